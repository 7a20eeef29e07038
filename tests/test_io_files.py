"""Safe access to input files: listing, zip safety, CSV decoding and structural errors."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import polars as pl
import pytest

from assess2plan.errors import InputError
from assess2plan.io import files
from assess2plan.io.files import ROW, list_members, open_input, read_csv, read_csv_text


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def make_zip(path: Path, members: dict[str, bytes | str], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


# -- listing ------------------------------------------------------------------------------------
def test_list_members_folder_is_recursive_and_relative(tmp_path):
    write(tmp_path / "a.csv", "x\n1\n")
    write(tmp_path / "sub" / "b.CSV", "x\n1\n")
    write(tmp_path / "sub" / "c.json", "{}")
    write(tmp_path / "ReadMe.txt", "hello")
    write(tmp_path / "__MACOSX" / "._a.csv", "junk")
    write(tmp_path / ".hidden.csv", "x\n")
    assert list_members(tmp_path) == ["a.csv", "sub/b.CSV", "sub/c.json"]


def test_list_members_zip_and_single_file(tmp_path):
    z = make_zip(
        tmp_path / "dl.zip",
        {
            "redlist/assessments.csv": "a\n1\n",
            "redlist/ReadMe.txt": "x",
            "__MACOSX/redlist/._assessments.csv": "j",
        },
    )
    assert list_members(z) == ["redlist/assessments.csv"]
    f = write(tmp_path / "simple_summary.csv", "a\n1\n")
    assert list_members(f) == ["simple_summary.csv"]


def test_missing_path_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list_members(tmp_path / "nope")


def test_nested_zip_is_ignored_with_a_warning(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("assessments.csv", "a\n1\n")
    z = make_zip(tmp_path / "outer.zip", {"part1.zip": inner.getvalue(), "taxonomy.csv": "a\n1\n"})
    members, issues = open_input(z)
    assert [m.rel for m in members] == ["taxonomy.csv"]
    assert len(issues) == 1 and "part1.zip" in issues[0].file and "nested zip" in issues[0].message


# -- zip safety -----------------------------------------------------------------------------------
def test_zip_member_with_dotdot_is_refused(tmp_path):
    z = make_zip(tmp_path / "evil.zip", {"../../etc/assessments.csv": "a\n1\n"})
    with pytest.raises(InputError) as err:
        list_members(z)
    assert "evil.zip!/../../etc/assessments.csv" in str(err.value)
    assert "'..'" in str(err.value)


def test_zip_member_with_absolute_path_is_refused(tmp_path):
    z = tmp_path / "abs.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("placeholder.csv")
        info.filename = "/etc/assessments.csv"  # ZipInfo() would strip the leading slash
        zf.writestr(info, "a\n1\n")
    with pytest.raises(InputError) as err:
        open_input(z)
    assert "abs.zip!//etc/assessments.csv" in str(err.value)
    assert "absolute path" in str(err.value)


def test_zip_member_with_drive_letter_is_refused(tmp_path):
    z = make_zip(tmp_path / "win.zip", {"C:/data/assessments.csv": "a\n1\n"})
    with pytest.raises(InputError, match="drive letter") as err:
        open_input(z)
    assert "win.zip!/C:/data/assessments.csv" in str(err.value)


def test_corrupt_zip_is_refused(tmp_path):
    z = write(tmp_path / "broken.zip", b"PK\x03\x04 this is not really a zip archive" * 10)
    with pytest.raises(InputError, match="corrupt or truncated") as err:
        open_input(z)
    assert str(z) in str(err.value)


def test_truncated_zip_is_refused(tmp_path):
    good = make_zip(tmp_path / "good.zip", {"assessments.csv": "assessmentId,x\n" + "1,abc\n" * 2000})
    data = good.read_bytes()
    cut = write(tmp_path / "cut.zip", data[: len(data) // 2])
    with pytest.raises(InputError, match="corrupt or truncated") as err:
        list_members(cut)
    assert "cut.zip" in str(err.value)


def test_zip_member_with_bad_crc_is_refused_when_read(tmp_path):
    payload = b"assessmentId,name\n" + b"1,abcdefgh\n" * 50
    z = make_zip(tmp_path / "crc.zip", {"assessments.csv": payload}, compression=zipfile.ZIP_STORED)
    data = bytearray(z.read_bytes())
    at = data.find(b"abcdefgh")
    data[at] = ord("X")  # same size, different content: the CRC no longer matches
    z.write_bytes(bytes(data))
    members, _ = open_input(z)  # the directory is intact
    with pytest.raises(InputError) as err:
        read_csv(members[0])
    assert "crc.zip!/assessments.csv" in str(err.value)
    assert "CRC" in str(err.value)


def test_zip_bomb_total_size_is_refused(tmp_path, monkeypatch):
    z = make_zip(tmp_path / "big.zip", {"a.csv": "x\n" + "1\n" * 600, "b.csv": "x\n" + "1\n" * 600})
    monkeypatch.setattr(files, "MAX_TOTAL_UNCOMPRESSED", 1500)
    with pytest.raises(InputError, match="zip bomb") as err:
        open_input(z)
    assert "big.zip!/b.csv" in str(err.value)


def test_zip_bomb_compression_ratio_is_refused(tmp_path, monkeypatch):
    z = make_zip(tmp_path / "bomb.zip", {"assessments.csv": b"0" * 2_000_000})
    monkeypatch.setattr(files, "RATIO_MIN_SIZE", 1_000_000)
    with pytest.raises(InputError, match="zip bomb") as err:
        open_input(z)
    assert "bomb.zip!/assessments.csv" in str(err.value)
    assert ":1" in str(err.value)


def test_small_well_compressed_member_is_fine(tmp_path):
    z = make_zip(tmp_path / "ok.zip", {"assessments.csv": "a\n" + "0\n" * 100_000})
    members, issues = open_input(z)
    assert [m.name for m in members] == ["assessments.csv"] and not issues
    assert read_csv(members[0]).df.height == 100_000


# -- CSV reading ----------------------------------------------------------------------------------
def test_every_column_is_text_and_codes_survive(tmp_path):
    f = write(tmp_path / "habitats.csv", "code,count,flag\n5.10,007,true\n9.1,1e3,false\n")
    t = read_csv(f)
    assert t.df.schema["code"] == pl.Utf8 and t.df.schema["count"] == pl.Utf8
    assert t.df["code"].to_list() == ["5.10", "9.1"]
    assert t.df["count"].to_list() == ["007", "1e3"]
    assert t.df[ROW].to_list() == [1, 2]


def test_quoted_multiline_html_and_escaped_quotes(tmp_path):
    text = 'id,rationale\n1,"<p>One &amp; ""two"".</p>\n<p>Three, four.</p>"\n2,plain\n'
    t = read_csv(write(tmp_path / "a.csv", text))
    assert t.df["rationale"].to_list() == ['<p>One &amp; "two".</p>\n<p>Three, four.</p>', "plain"]
    assert t.encoding == "utf-8"


def test_utf8_bom_is_dropped(tmp_path):
    t = read_csv(write(tmp_path / "a.csv", b"\xef\xbb\xbfassessmentId,name\n1,Caf\xc3\xa9\n"))
    assert t.df.columns == [ROW, "assessmentId", "name"]
    assert t.df["name"].to_list() == ["Café"]


def test_latin1_file_imports_with_a_warning(tmp_path):
    f = write(tmp_path / "names.csv", "id,name\n1,Caf\xe9 cr\xe8me\n2,ok\n".encode("latin-1"))
    issues = []
    t = read_csv(f, issues=issues)
    assert t.df["name"].to_list() == ["Café crème", "ok"]
    assert t.encoding in ("cp1252", "latin-1")
    assert len(issues) == 1 and issues[0].file == str(f) and "not UTF-8" in issues[0].message
    assert "line 2" in issues[0].message


def test_cp1252_specific_characters(tmp_path):
    f = write(tmp_path / "q.csv", "id,text\n1,\u201cquoted\u201d \u2013 dash\n".encode("cp1252"))
    t = read_csv(f, issues=[])
    assert t.df["text"].to_list() == ["\u201cquoted\u201d \u2013 dash"]


def test_utf16_file_gives_a_clear_error(tmp_path):
    f = write(tmp_path / "u16.csv", "id,name\n1,x\n".encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16") as err:
        read_csv(f)
    assert str(f) in str(err.value)


def test_binary_file_gives_a_clear_error(tmp_path):
    f = write(tmp_path / "sheet.csv", b"id,name\n1,\x00\x01\x02\x03binary")
    with pytest.raises(InputError, match="binary data") as err:
        read_csv(f)
    assert "line 2" in str(err.value)


def test_control_characters_are_not_taken_for_latin1(tmp_path):
    f = write(tmp_path / "ctl.csv", b"id,name\n1,\xff\x02\x03\x04\n")
    with pytest.raises(InputError, match="neither UTF-8 nor") as err:
        read_csv(f, issues=[])
    assert str(f) in str(err.value)


def test_empty_file_is_an_input_error(tmp_path):
    f = write(tmp_path / "threats.csv", b"")
    with pytest.raises(InputError, match="empty file") as err:
        read_csv(f)
    assert str(f) in str(err.value)


def test_header_only_file_has_zero_rows(tmp_path):
    t = read_csv(write(tmp_path / "threats.csv", "assessmentId,code\n"))
    assert t.df.height == 0 and t.rows == 0
    assert t.df.columns == [ROW, "assessmentId", "code"]


def test_short_row_names_row_and_raw_line(tmp_path):
    f = write(tmp_path / "threats.csv", 'assessmentId,code,name\n1,1.1,"a, b"\n2,2.1\n3,3.1,c\n')
    with pytest.raises(InputError) as err:
        read_csv(f)
    e = err.value
    assert e.file == str(f) and e.row == 2 and e.value == "2,2.1"
    assert "2 fields" in e.message and "header has 3" in e.message


def test_long_row_after_multiline_field_names_row_and_raw_line(tmp_path):
    f = write(tmp_path / "a.csv", 'id,text\n1,"line one\nline two"\n2,x,extra\n')
    with pytest.raises(InputError) as err:
        read_csv(f)
    e = err.value
    assert e.row == 2 and e.value == "2,x,extra"
    assert "line 4" in e.message


def test_unclosed_quote_is_located(tmp_path):
    f = write(tmp_path / "a.csv", 'id,text\n1,ok\n2,"never closed\n3,x\n')
    with pytest.raises(InputError) as err:
        read_csv(f)
    assert err.value.row == 2 and "quote" in err.value.message
    assert err.value.value.startswith('2,"never closed')


def test_blank_lines_are_skipped_and_rows_keep_their_numbers(tmp_path):
    t = read_csv(write(tmp_path / "a.csv", "id,code\n1,1.1\n\n3,3.1\n"))
    assert t.df["id"].to_list() == ["1", "3"]
    assert t.df[ROW].to_list() == [1, 3]


def test_quoted_empty_field_is_null(tmp_path):
    t = read_csv(write(tmp_path / "a.csv", 'id,note\n1,""\n2,\n'))
    assert t.df["note"].to_list() == [None, None]


def test_missing_required_column_names_it_and_lists_columns(tmp_path):
    f = write(tmp_path / "threats.csv", "assessmentId,name\n1,x\n")
    with pytest.raises(InputError) as err:
        read_csv(f, required=("assessmentId", "code"))
    e = err.value
    assert e.column == "code" and e.file == str(f)
    assert "assessmentId, name" in e.message


def test_duplicate_header_is_refused(tmp_path):
    with pytest.raises(InputError, match="twice") as err:
        read_csv(write(tmp_path / "a.csv", "code,code\n1,2\n"))
    assert err.value.column == "code"


def test_sha256_and_text(tmp_path):
    data = "id,name\n1,Caf\u00e9\n".encode()
    f = write(tmp_path / "a.csv", data)
    assert read_csv(f).sha256 == hashlib.sha256(data).hexdigest()
    assert read_csv_text(f) == ("id,name\n1,Caf\u00e9\n", "utf-8")


def test_zip_member_is_read_and_named(tmp_path):
    z = make_zip(tmp_path / "dl.zip", {"sub/assessments.csv": "assessmentId,code\n1,5.10\n2\n"})
    members, _ = open_input(z)
    assert members[0].display == f"{z}!/sub/assessments.csv"
    with pytest.raises(InputError) as err:
        read_csv(members[0])
    assert err.value.file == f"{z}!/sub/assessments.csv" and err.value.row == 2

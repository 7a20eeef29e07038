"""Workshop edits (bulk add / remove of actions needed), their audit log, undo and conflicts.

Every case runs on SQLite and PostgreSQL. The state is always read back through independent paths:
the store's rows (``load_set``), the sheet index (``query_sheet``) and the edit log.
"""

from __future__ import annotations

import polars as pl
import pytest

from assess2plan import store
from assess2plan.errors import A2PError, InputError
from assess2plan.sheet import parse_query, planning_sheet
from assess2plan.web.store.edits import EditConflict
from tests.test_store import assessment, make_set


def _set():
    rows = [
        assessment("a1", "t1", category="CR", scientific_name="Alpha one"),
        assessment("a2", "t2", category="EN", scientific_name="Beta two"),
        assessment("a3", "t3", category="VU", scientific_name="Gamma three"),
        assessment("a4", "t4", category="LC", scientific_name="Delta four"),
    ]
    threats = {
        "a1": [{"code": "7.2.1", "timing": "Ongoing"}],
        "a2": [{"code": "7.2.10", "timing": "Ongoing"}],
        "a3": [{"code": "5.4.1", "timing": "Ongoing"}],
        "a4": [{"code": "7.2.1", "timing": "Ongoing"}],
    }
    return make_set(rows, threats_for=lambda aid: threats[aid])


def _actions(alias: str, project: str = "w") -> dict[str, set[str]]:
    aset = store.load_set(project, using=alias)
    out: dict[str, set[str]] = {t: set() for t in aset.assessments["taxon_id"]}
    for r in aset.actions_needed.iter_rows(named=True):
        out[r["taxon_id"]].add(r["code"])
    return out


@pytest.fixture
def loaded(alias):
    store.import_set(_set(), project="w", using=alias)
    return alias


def test_add_for_a_selection_records_who_when_why(loaded):
    alias = loaded
    q = parse_query(["category=CR,EN,VU", "threat=7.2"])
    r = store.edit_actions(
        "w", operation="add", code="2.1", note="Manage the lakes", query=q, reason="day 2: dams", user="alice", using=alias
    )
    assert sorted(x["taxon_id"] for x in r.changed) == ["t1", "t2"]
    acts = _actions(alias)
    assert acts == {"t1": {"1.1", "2.1"}, "t2": {"1.1", "2.1"}, "t3": {"1.1"}, "t4": {"1.1"}}
    aset = store.load_set("w", using=alias)
    note = aset.actions_needed.filter((pl.col("taxon_id") == "t1") & (pl.col("code") == "2.1"))
    assert note["note"].to_list() == ["Manage the lakes"]
    assert note["name"].to_list() == ["Site/area management"]
    # the sheet index follows, and agrees with the polars sheet over the stored rows
    q2 = parse_query(["action_needed=2"])
    assert set(store.query_sheet("w", q2, using=alias)["taxon_id"]) == {"t1", "t2"}
    assert set(planning_sheet(aset, q2)["taxon_id"]) == {"t1", "t2"}
    (log,) = store.list_edits("w", using=alias)
    assert (log["made_by"], log["reason"], log["operation"], log["code"]) == ("alice", "day 2: dams", "add", "2.1")
    assert log["made_at"] is not None and log["selection"] == "category=CR,EN,VU threat=7.2"
    before = {c["taxon_id"]: [x["code"] for x in c["before"]] for c in log["changes"]}
    after = {c["taxon_id"]: [x["code"] for x in c["after"]] for c in log["changes"]}
    assert before == {"t1": ["1.1"], "t2": ["1.1"]}
    assert after == {"t1": ["1.1", "2.1"], "t2": ["1.1", "2.1"]}


def test_adding_twice_changes_nothing_the_second_time(loaded):
    alias = loaded
    kw = dict(operation="add", code="2.1", query=parse_query(["category=CR"]), reason="r", user="u", using=alias)
    assert store.edit_actions("w", **kw).edit_id is not None
    again = store.edit_actions("w", **kw)
    assert again.edit_id is None and [x["taxon_id"] for x in again.unchanged] == ["t1"]
    assert len(store.list_edits("w", using=alias)) == 1


def test_remove_and_taxa_by_name(loaded):
    alias = loaded
    r = store.edit_actions(
        "w", operation="remove", code="1.1", taxa=["Beta two", "t3"], reason="not needed", user="bob", using=alias
    )
    assert sorted(x["taxon_id"] for x in r.changed) == ["t2", "t3"]
    assert _actions(alias) == {"t1": {"1.1"}, "t2": set(), "t3": set(), "t4": {"1.1"}}
    assert set(store.query_sheet("w", parse_query(["action_needed=none"]), using=alias)["taxon_id"]) == {"t2", "t3"}


def test_dry_run_writes_nothing(loaded):
    alias = loaded
    r = store.edit_actions(
        "w", operation="add", code="3.2", query=parse_query([]), reason="r", user="u", dry_run=True, using=alias
    )
    assert r.dry_run and len(r.changed) == 4 and r.edit_id is None
    assert all(v == {"1.1"} for v in _actions(alias).values())
    assert store.list_edits("w", using=alias) == []


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(code="9.9.9"), InputError, "not in the conservation actions scheme"),
        (dict(code="two"), InputError, "not a conservation action code"),
        (dict(reason=" "), A2PError, "needs a reason"),
        (dict(operation="rename"), A2PError, "unknown edit operation"),
        (dict(query=None, taxa=["Nobody here"]), InputError, "Nobody here"),
        (dict(query=None), A2PError, "say which species"),
    ],
)
def test_bad_edits_are_refused_and_change_nothing(loaded, kwargs, error, words):
    alias = loaded
    args = dict(operation="add", code="2.1", query=parse_query([]), reason="r", user="u", using=alias)
    args.update(kwargs)
    with pytest.raises(error, match=words):
        store.edit_actions("w", **args)
    assert all(v == {"1.1"} for v in _actions(alias).values())
    assert store.list_edits("w", using=alias) == []


def test_a_failure_while_writing_leaves_everything_as_it_was(loaded, monkeypatch):
    from assess2plan.web.store import edits

    alias = loaded

    def boom(*a, **k):
        raise RuntimeError("disk full")

    # fails after the rows were rewritten, before the log entry is made
    monkeypatch.setattr(edits, "_selection_text", boom)
    with pytest.raises(RuntimeError):
        store.edit_actions("w", operation="add", code="2.1", query=parse_query([]), reason="r", user="u", using=alias)
    assert all(v == {"1.1"} for v in _actions(alias).values())
    assert store.sheet_count("w", parse_query(["action_needed=2.1"]), using=alias) == 0


def test_stale_revisions_are_refused(loaded):
    alias = loaded
    seen = {"t1": 0, "t2": 0}  # what two facilitators loaded
    store.edit_actions(
        "w", operation="add", code="2.1", taxa=["t1"], reason="r", user="alice", expected=seen, using=alias
    )
    with pytest.raises(EditConflict, match="Alpha one") as e:
        store.edit_actions(
            "w", operation="add", code="3.2", taxa=["t1", "t2"], reason="r", user="bob", expected=seen, using=alias
        )
    assert "nothing was written" in str(e.value)
    assert _actions(alias)["t2"] == {"1.1"}
    store.edit_actions(
        "w", operation="add", code="3.2", taxa=["t1", "t2"], reason="r", user="bob", expected={"t1": 1, "t2": 0}, using=alias
    )
    assert _actions(alias)["t1"] == {"1.1", "2.1", "3.2"}


def test_undo_restores_and_is_refused_over_later_edits(loaded):
    alias = loaded
    e1 = store.edit_actions("w", operation="add", code="2.1", query=parse_query(["threat=7.2"]), reason="r", user="alice", using=alias)
    e2 = store.edit_actions("w", operation="remove", code="1.1", taxa=["t1"], reason="r", user="bob", using=alias)
    with pytest.raises(EditConflict, match=f"changed since by edit {e2.edit_id}"):
        store.undo_edit("w", e1.edit_id, user="carol", using=alias)
    assert _actions(alias)["t1"] == {"2.1"}
    u2 = store.undo_edit("w", e2.edit_id, user="carol", using=alias)
    u1 = store.undo_edit("w", e1.edit_id, user="carol", reason="decided otherwise", using=alias)
    assert all(v == {"1.1"} for v in _actions(alias).values())
    assert store.sheet_count("w", parse_query(["action_needed=2"]), using=alias) == 0
    with pytest.raises(EditConflict, match="undone already"):
        store.undo_edit("w", e1.edit_id, user="carol", using=alias)
    with pytest.raises(EditConflict, match="itself an undo"):
        store.undo_edit("w", u1.edit_id, user="carol", using=alias)
    with pytest.raises(A2PError, match="no edit 999"):
        store.undo_edit("w", 999, using=alias)
    log = {e["id"]: e for e in store.list_edits("w", using=alias)}
    assert log[e1.edit_id]["undone_by"] == u1.edit_id and log[e2.edit_id]["undone_by"] == u2.edit_id
    assert log[u1.edit_id]["reason"] == "decided otherwise" and log[u1.edit_id]["made_by"] == "carol"


def test_reimport_keeps_edits_and_a_correction_says_it_replaced_them(loaded):
    alias = loaded
    store.edit_actions("w", operation="add", code="2.1", taxa=["t1"], reason="r", user="u", using=alias)
    again = store.import_set(_set(), project="w", using=alias)
    assert again.unchanged
    assert _actions(alias)["t1"] == {"1.1", "2.1"}
    corrected = make_set([assessment("a1", "t1", category="CR", rationale="corrected text")])
    r = store.import_set(corrected, project="w", using=alias)
    assert r.replaced == 1
    assert any("edited at the workshop" in i and "a1" in i for i in r.issues)

/* Maps of the plan pages (dashboard, site page), drawn with the vendored Leaflet from our own
 * files only: no tile layer, no request to any other host.
 *
 * A map is a <div data-a2p-map data-source="ID" hidden> whose data is the JSON of the <script
 * type="application/json" id="ID"> element (written by the server):
 *   world_url     the bundled Natural Earth country outlines (GeoJSON; iso_a2, name, kind)
 *   countries     {ISO alpha-2: {name, species, threatened, colour}} -> choropleth
 *   legend        [{label, colour}] of the choropleth classes
 *   sites         a GeoJSON FeatureCollection of the sites the user may see located
 *   zero_colour, ocean_colour
 * Without JavaScript (or when the outlines cannot be read) the tables beside the map carry the
 * same information; the map stays hidden.
 */
(function () {
  "use strict";

  var EDGE = "#9a9a9a";

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function countryBox(name, code, info) {
    var box = el("div");
    box.appendChild(el("strong", name + " (" + code + ")"));
    if (info) {
      box.appendChild(el("div", info.species + " species, " + info.threatened + " threatened"));
    } else {
      box.appendChild(el("div", "no species recorded"));
    }
    return box;
  }

  function siteBox(p) {
    var box = el("div");
    var title = p.url ? el("a", p.name + " (" + p.site_id + ")") : el("strong", p.name + " (" + p.site_id + ")");
    if (p.url) title.href = p.url;
    box.appendChild(title);
    var line = [p.kind, p.country].filter(Boolean).join(", ");
    box.appendChild(el("div", line));
    box.appendChild(el("div", p.species + " species linked" + (p.sensitive ? " · sensitive site" : "")));
    return box;
  }

  function legendControl(data) {
    var control = L.control({ position: "bottomleft" });
    control.onAdd = function () {
      var box = el("div", null, "a2p-map-legend");
      if (data.legend && data.legend.length > 1) {
        box.appendChild(el("div", "species per country", "title"));
        data.legend.forEach(function (item) {
          var row = el("div");
          var sw = el("span", null, "swatch");
          sw.style.background = item.colour;
          row.appendChild(sw);
          row.appendChild(document.createTextNode(" " + item.label));
          box.appendChild(row);
        });
      }
      if (data.sites && data.sites.features.length) {
        var row = el("div");
        var dot = el("span", null, "swatch site");
        row.appendChild(dot);
        row.appendChild(document.createTextNode(" site"));
        box.appendChild(row);
      }
      return box;
    };
    return control;
  }

  function draw(node) {
    var source = document.getElementById(node.getAttribute("data-source"));
    if (!source || typeof window.L === "undefined" || !window.fetch) return;
    var data = JSON.parse(source.textContent);
    var countries = data.countries || {};
    node.hidden = false;
    node.style.background = data.ocean_colour || "#eef4f8";
    var map = L.map(node, { worldCopyJump: true, minZoom: 1, maxZoom: 14, zoomSnap: 0.5 });
    map.attributionControl.setPrefix("Leaflet");
    map.attributionControl.addAttribution("Country outlines: Natural Earth (public domain)");
    map.setView([0, 0], 1);

    var sites = L.geoJSON(data.sites, {
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, {
          radius: 6, color: "#1d3557", weight: 2, fillColor: "#ffffff", fillOpacity: 0.9
        });
      },
      style: function () {
        return { color: "#1d3557", weight: 2, fillColor: "#457b9d", fillOpacity: 0.35 };
      },
      onEachFeature: function (feature, layer) {
        layer.bindPopup(siteBox(feature.properties || {}));
      }
    });

    fetch(data.world_url, { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (world) {
        var layer = L.geoJSON(world, {
          filter: function (f) {
            // small island countries are points in the file: drawn only when they have species
            return f.geometry.type !== "Point" || countries[f.properties.iso_a2];
          },
          pointToLayer: function (f, latlng) {
            return L.circleMarker(latlng, { radius: 4, color: "#333333", weight: 1, fillOpacity: 1 });
          },
          style: function (f) {
            var info = countries[f.properties.iso_a2];
            return {
              color: EDGE, weight: 0.6, fillOpacity: 1,
              fillColor: info ? info.colour : (data.zero_colour || "#e6e6e6")
            };
          },
          onEachFeature: function (f, lyr) {
            var p = f.properties;
            lyr.bindTooltip(countryBox(p.name, p.iso_a2, countries[p.iso_a2]), { sticky: true });
          }
        }).addTo(map);
        sites.addTo(map);
        legendControl(data).addTo(map);
        var bounds = null;
        if (data.sites && data.sites.features.length) {
          bounds = sites.getBounds();
        } else {
          layer.eachLayer(function (lyr) {
            var p = lyr.feature && lyr.feature.properties;
            if (p && countries[p.iso_a2]) {
              bounds = bounds ? bounds.extend(lyr.getBounds ? lyr.getBounds() : lyr.getLatLng()) :
                L.latLngBounds(lyr.getBounds ? lyr.getBounds() : [lyr.getLatLng(), lyr.getLatLng()]);
            }
          });
        }
        if (bounds && bounds.isValid()) {
          map.fitBounds(bounds.pad(0.4), { maxZoom: 6 });
        }
        node.setAttribute("data-ready", "1");
      })
      .catch(function () {
        node.hidden = true;
        var note = document.getElementById(node.getAttribute("data-note"));
        if (note) note.hidden = false;
      });
  }

  function start() {
    var nodes = document.querySelectorAll("[data-a2p-map]");
    for (var i = 0; i < nodes.length; i++) draw(nodes[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

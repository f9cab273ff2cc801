// Live ASTCT grading on the adverse-event form: each change of a CRS or
// ICANS observation asks the grading API (the same rules the server applies
// when the form is saved) and shows the grade with its deciding criteria.
(function () {
  "use strict";
  var lang = document.documentElement.lang || "zh-CN";
  var timers = {};

  function params(kind) {
    var q = new URLSearchParams();
    document.querySelectorAll('[data-grade="' + kind + '"]').forEach(function (el) {
      if (el.type === "checkbox") {
        if (el.checked) { q.set(el.name, "true"); }
      } else if (el.value !== "") {
        q.set(el.name, el.value);
      }
    });
    if (kind === "icans") {
      var age = document.getElementById("ae-age");
      if (age && age.value !== "") { q.set("icans_age_years", age.value); }
    }
    return q;
  }

  function blank(kind, q) {
    if (kind === "crs") { return !q.has("crs_temperature_c"); }
    return !q.has("icans_ice_score") && !q.has("icans_capd_score") &&
      q.get("icans_consciousness") !== "unarousable";
  }

  function show(kind, text, level) {
    var out = document.getElementById(kind + "-grade");
    if (!out) { return; }
    out.textContent = text;
    out.className = "grade" + (level ? " grade-" + level : "");
  }

  function ask(kind) {
    var q = params(kind);
    if (blank(kind, q)) { show(kind, "", ""); return; }
    fetch("/api/v1/safety/grade/" + kind + "?" + q.toString(), {
      headers: { "Accept": "application/json", "Accept-Language": lang },
      credentials: "same-origin"
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      var out = document.getElementById(kind + "-grade");
      var label = out ? out.getAttribute("data-label") : "";
      if (!res.ok) {
        show(kind, res.body.error ? res.body.error.message : "", "error");
        return;
      }
      var g = res.body.grade;
      var why = (res.body.deciding_text || []).join("; ");
      show(kind, label + " " + g + (why ? " — " + why : ""), String(g));
    }).catch(function () { show(kind, "", ""); });
  }

  function later(kind) {
    clearTimeout(timers[kind]);
    timers[kind] = setTimeout(function () { ask(kind); }, 150);
  }

  document.querySelectorAll("[data-grade]").forEach(function (el) {
    var kind = el.getAttribute("data-grade");
    el.addEventListener("input", function () { later(kind); });
    el.addEventListener("change", function () { later(kind); });
  });
  var age = document.getElementById("ae-age");
  if (age) { age.addEventListener("input", function () { later("icans"); }); }
})();

// Sortable tables: a header button sorts its column (numbers as numbers),
// a second press reverses the order.
(function () {
  "use strict";
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var body = table.tBodies[0];
    table.querySelectorAll("button[data-sort]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var col = Number(btn.getAttribute("data-sort"));
        var numeric = btn.hasAttribute("data-num");
        var desc = btn.getAttribute("aria-sort") !== "descending";
        table.querySelectorAll("button[data-sort]").forEach(function (b) { b.removeAttribute("aria-sort"); });
        btn.setAttribute("aria-sort", desc ? "descending" : "ascending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].textContent.trim();
          var y = b.cells[col].textContent.trim();
          var c;
          if (numeric) {
            var nx = parseFloat(x), ny = parseFloat(y);
            if (isNaN(nx)) { nx = -Infinity; }
            if (isNaN(ny)) { ny = -Infinity; }
            c = nx - ny;
          } else {
            c = x.localeCompare(y);
          }
          return desc ? -c : c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();

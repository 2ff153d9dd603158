// govshare layout: the collapsing menu on phones, tables that scroll inside themselves, and
// character counters on length-limited fields.  Loaded in <head> without defer so that the
// "js" class is set before the first paint (CSP script-src 'self': no inline scripts).
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");

  // ---- the menu button (shown on narrow screens only, see govshare.css)
  function setMenu(open) {
    var button = document.querySelector("[data-nav-toggle]");
    if (!button) { return; }
    root.classList.toggle("nav-open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-nav-toggle]");
    if (button) {
      setMenu(button.getAttribute("aria-expanded") !== "true");
      return;
    }
    // a tap outside the open menu closes it
    if (root.classList.contains("nav-open") && !event.target.closest("#sidenav")) {
      setMenu(false);
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && root.classList.contains("nav-open")) {
      setMenu(false);
      var button = document.querySelector("[data-nav-toggle]");
      if (button) { button.focus(); }
    }
  });

  // ---- every table in the content scrolls inside its own box, never the page
  function wrapTables(scope) {
    var tables = (scope || document).querySelectorAll("main table");
    for (var i = 0; i < tables.length; i++) {
      var table = tables[i];
      var parent = table.parentElement;
      if (!parent || parent.classList.contains("table-wrap") || table.closest("table table")) { continue; }
      var wrap = document.createElement("div");
      wrap.className = "table-wrap";
      parent.insertBefore(wrap, table);
      wrap.appendChild(table);
    }
  }

  // ---- a counter under every field with a maxlength: "12 / 200", warned near the limit
  function counterFor(field) {
    var id = field.id || field.name;
    return document.querySelector('.char-count[data-for="' + id + '"]');
  }
  function updateCounter(field) {
    var counter = counterFor(field);
    var max = parseInt(field.getAttribute("maxlength"), 10);
    if (!counter || !max) { return; }
    var used = Array.from(field.value).length;  // characters, not UTF-16 units (as the server counts)
    counter.textContent = used + " / " + max;
    counter.classList.toggle("near", used >= max * 0.9);
  }
  function addCounters(scope) {
    var fields = (scope || document).querySelectorAll(
      "main input[maxlength]:not([type=hidden]):not([type=password]):not([type=search]):not([data-no-counter]), main textarea[maxlength]");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.dataset.counted) { continue; }
      field.dataset.counted = "1";
      var counter = document.createElement("small");
      counter.className = "char-count muted";
      counter.setAttribute("aria-live", "polite");
      counter.dataset.for = field.id || field.name;
      field.insertAdjacentElement("afterend", counter);
      updateCounter(field);
    }
  }
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (field && field.dataset && field.dataset.counted) { updateCounter(field); }
  });

  function enhance(scope) {
    wrapTables(scope);
    addCounters(scope);
  }
  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  // fragments swapped in by htmx (search results, job progress …)
  // (the whole document: after an outerHTML swap the event's target is the element that was replaced)
  document.addEventListener("htmx:afterSettle", function () { enhance(document); });
})();

// govshare catalog pages: the information-items table of the entry form and the overview chart.
// No inline scripts (CSP script-src 'self'); data comes from json_script tags.
(function () {
  "use strict";

  // ---- entry form: add and remove information-item rows
  function setupItems(table) {
    const template = document.getElementById("cat-item-template");
    const addButton = document.querySelector('[data-add-row="' + table.id + '"]');
    if (!template || !addButton) {
      return;
    }
    let next = parseInt(table.dataset.nextIndex || "0", 10);
    table.querySelectorAll("[data-remove-row]").forEach((button) => { button.hidden = false; });
    addButton.hidden = false;
    addButton.addEventListener("click", () => {
      const html = template.innerHTML.replace(/__i__/g, String(next));
      next += 1;
      const body = table.tBodies[0];
      body.insertAdjacentHTML("beforeend", html);
      const input = body.lastElementChild && body.lastElementChild.querySelector("input");
      if (input) {
        input.focus();
      }
    });
    table.addEventListener("click", (event) => {
      const button = event.target.closest("[data-remove-row]");
      if (!button) {
        return;
      }
      const row = button.closest("tr");
      if (row) {
        row.remove();
      }
    });
  }

  // ---- jurisdiction overview: stacked bars per department (ECharts, vendored)
  function setupChart(container) {
    const source = document.getElementById("cat-overview-data");
    if (!source || !window.echarts) {
      return;
    }
    const data = JSON.parse(source.textContent);
    if (!data.categories || data.categories.length === 0) {
      container.hidden = true;
      return;
    }
    const chart = window.echarts.init(container, null, { renderer: "canvas" });
    chart.setOption({
      // richText tooltips: the HTML ones carry style attributes that CSP (style-src 'self') refuses
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, renderMode: "richText" },
      legend: { top: 0 },
      grid: { left: 40, right: 20, bottom: 60, top: 40, containLabel: true },
      xAxis: { type: "category", data: data.categories, axisLabel: { interval: 0, rotate: data.categories.length > 8 ? 30 : 0 } },
      yAxis: { type: "value", minInterval: 1 },
      series: data.series.map((s) => ({ name: s.name, type: "bar", stack: s.key === "draft" || s.key === "in_review" ? "work" : "published", data: s.data })),
    });
    window.addEventListener("resize", () => chart.resize());
  }

  function init() {
    document.querySelectorAll("table[data-next-index]").forEach(setupItems);
    const chart = document.getElementById("cat-overview-chart");
    if (chart) {
      setupChart(chart);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

// Operator dashboard charts: data and labels come from JSON blocks in the page (no inline script).
(function () {
  "use strict";
  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  function draw(id, option) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) return;
    var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption(option, true);
    el.setAttribute("data-rendered", "true");
    window.addEventListener("resize", function () { chart.resize(); });
  }
  var base = {
    grid: { left: 44, right: 16, top: 40, bottom: 56 },
    tooltip: { trigger: "axis", renderMode: "richText" },
    legend: { top: 0, type: "scroll" },
  };
  function extend(extra) { var o = {}; for (var k in base) o[k] = base[k]; for (var j in extra) o[j] = extra[j]; return o; }
  function render() {
    var d = data("chart-data"), l = data("chart-labels");
    if (!d || !l) return;
    var xDays = { type: "category", data: d.days, axisLabel: { hideOverlap: true } };
    draw("chart-daily", extend({
      xAxis: xDays, yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: l.orders, type: "bar", data: d.orders },
        { name: l.confirmed, type: "bar", data: d.confirmed },
        { name: l.unsubscribed, type: "line", data: d.unsubscribed },
        { name: l.queries, type: "line", data: d.queries },
      ],
    }));
    draw("chart-sp", extend({
      xAxis: { type: "category", data: d.sps }, yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: l.orders, type: "bar", data: d.sp_orders },
        { name: l.confirmed, type: "bar", data: d.sp_confirmed },
        { name: l.unsubscribed, type: "bar", data: d.sp_unsubscribed },
      ],
    }));
    draw("chart-rate", extend({
      xAxis: xDays, yAxis: { type: "value", min: 0, max: 100 },
      series: [{ name: l.rate, type: "line", connectNulls: false, data: d.rate }],
    }));
    var kinds = Object.keys(d.reminders);
    draw("chart-reminders", extend({
      xAxis: xDays, yAxis: { type: "value", minInterval: 1 },
      series: kinds.map(function (k) { return { name: l[k] || k, type: "bar", stack: "r", data: d.reminders[k] }; }),
    }));
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", render); else render();
})();

// Demo handset niceties without inline script (the pages' CSP allows only our own files).
(function () {
  "use strict";
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el && el.matches && el.matches("select[data-autosubmit]")) el.form.submit();
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.target;
    if (form && form.matches && form.matches("form[data-clear-after]") && e.detail.successful) {
      var text = form.querySelector("#text");
      if (text) { text.value = ""; text.focus(); }
    }
  });
})();

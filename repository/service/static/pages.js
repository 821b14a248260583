// ipdrepo's pages: small progressive enhancements; every form works without this file.
"use strict";
(function () {
  // The answer form: check the answer while it is typed, with the workbook import's rules
  // (GET /queries/ID/check records nothing), and show the problems beside the fields.
  function checkAnswers(form) {
    var timer = null;
    var fields = {response: "response", corrected: "value", comment: "comment"};
    function show(problems) {
      Object.keys(fields).forEach(function (key) {
        var box = document.getElementById("err-" + key);
        var input = form.elements[fields[key]];
        var mine = problems.filter(function (p) { return p.field === key; });
        if (box) { box.textContent = mine.map(function (p) { return p.message; }).join(" "); }
        if (input) {
          input.classList.toggle("invalid", mine.length > 0);
          if (mine.length) { input.setAttribute("aria-invalid", "true"); }
          else { input.removeAttribute("aria-invalid"); }
        }
      });
    }
    function run() {
      var params = new URLSearchParams();
      ["response", "value", "comment"].forEach(function (name) {
        params.set(name, form.elements[name].value);
      });
      if (!form.elements.response.value && !form.elements.value.value) { show([]); return; }
      fetch(form.dataset.check + "?" + params.toString(), {credentials: "same-origin",
                                                            headers: {Accept: "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          // while typing, "needs a comment" is not yet an error worth shouting about
          show(data.problems.filter(function (p) {
            return !(p.field === "comment" && !form.elements.comment.value &&
                     document.activeElement !== form.elements.comment);
          }));
          form.dataset.checked = String(Date.now());
        })
        .catch(function () { /* the server checks again on submit */ });
    }
    function later() { clearTimeout(timer); timer = setTimeout(run, 250); }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
  }

  // The invitation and password-reset pages: the link's secret is after '#', which browsers
  // never send to the server; put it in the form and take it out of the address bar.
  function linkToken(field) {
    var token = window.location.hash.slice(1);
    if (token) {
      field.value = decodeURIComponent(token);
      history.replaceState(null, "", window.location.pathname);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var answer = document.getElementById("answer-form");
    if (answer) { checkAnswers(answer); }
    var token = document.getElementById("token");
    if (token) { linkToken(token); }
  });
}());

// ipdrepo's pages: small progressive enhancements; every form works without this file.
"use strict";
(function () {
  // The answer form: check the answer while it is typed, with the workbook import's rules
  // (GET /queries/ID/check records nothing), and show the problems beside the fields.
  // Each field with data-field="NAME" has its problems shown in the element #err-NAME
  // (NAME: response, corrected, comment; row-N and note-N for the participants of a question
  // about several participants).
  function checkAnswers(form) {
    var timer = null;
    function show(problems) {
      form.querySelectorAll("[data-field]").forEach(function (input) {
        var key = input.dataset.field;
        var box = document.getElementById("err-" + key);
        var mine = problems.filter(function (p) { return p.field === key; });
        if (box) { box.textContent = mine.map(function (p) { return p.message; }).join(" "); }
        input.classList.toggle("invalid", mine.length > 0);
        if (mine.length) { input.setAttribute("aria-invalid", "true"); }
        else { input.removeAttribute("aria-invalid"); }
      });
    }
    function run() {
      var params = new URLSearchParams();
      var typed = false;
      form.querySelectorAll("[data-field]").forEach(function (input) {
        if (input.value) {
          params.set(input.name, input.value);
          if (input.name !== "comment" && input.name.indexOf("note-") !== 0) { typed = true; }
        }
      });
      if (!typed) { show([]); return; }
      fetch(form.dataset.check + "?" + params.toString(), {credentials: "same-origin",
                                                            headers: {Accept: "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          // while typing, "needs a comment" or "choose a response" is not yet worth shouting
          // about
          show(data.problems.filter(function (p) {
            var input = form.elements[p.field === "corrected" ? "value" : p.field];
            return !((p.field === "comment" || p.field === "response") && input &&
                     !input.value && document.activeElement !== input);
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

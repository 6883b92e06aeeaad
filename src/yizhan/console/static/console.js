// The console's only script (docs/console.md): the template linter's hints as one types.
// Every page works without it; here the "Check" button does the same by reloading.
"use strict";
(function () {
  var box = document.querySelector("textarea[data-hints]");
  var type = document.getElementById("lint-type");
  var out = document.getElementById("hints");
  if (!box || !type || !out) { return; }
  var timer = null;
  var asked = 0;
  function ask() {
    var mine = ++asked;
    var query = "?type=" + encodeURIComponent(type.value) +
                "&content=" + encodeURIComponent(box.value);
    fetch(box.getAttribute("data-hints") + query, {credentials: "same-origin"})
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) { if (html !== null && mine === asked) { out.innerHTML = html; } });
  }
  function later() { clearTimeout(timer); timer = setTimeout(ask, 250); }
  box.addEventListener("input", later);
  type.addEventListener("change", later);
})();

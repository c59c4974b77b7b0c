// hipkg: progressive enhancement only. Without JavaScript the form still works (one empty entry per list).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button.add[data-add]").forEach(function (button) {
    var kind = button.getAttribute("data-add");
    var list = document.getElementById(kind + "-list");
    if (!list) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var items = list.querySelectorAll("li");
      var last = items[items.length - 1];
      var n = items.length + 1;
      var item = last.cloneNode(true);
      var label = item.querySelector("label");
      var input = item.querySelector("input");
      input.id = kind + "-" + n;
      input.value = "";
      label.setAttribute("for", input.id);
      label.textContent = kind.charAt(0).toUpperCase() + kind.slice(1) + " " + n;
      list.appendChild(item);
      input.focus();
    });
  });
  var errors = document.getElementById("errors");
  var answer = document.getElementById("answer-title");
  if (errors) { errors.setAttribute("tabindex", "-1"); errors.focus(); }
  else if (answer) { answer.focus(); }
});

// Keyboard navigation through a conversation: j / ArrowDown to the next
// sentence, k / ArrowUp to the previous one. Progressive: without
// JavaScript every sentence is still reachable with Tab.
"use strict";
document.addEventListener("keydown", function (ev) {
  if (ev.target && (ev.target.tagName === "INPUT" || ev.target.tagName === "TEXTAREA")) {
    return;
  }
  var items = Array.prototype.slice.call(document.querySelectorAll(".conv li"));
  if (items.length === 0) {
    return;
  }
  var step = 0;
  if (ev.key === "j" || ev.key === "ArrowDown") {
    step = 1;
  } else if (ev.key === "k" || ev.key === "ArrowUp") {
    step = -1;
  } else {
    return;
  }
  var i = items.indexOf(document.activeElement);
  var next = i < 0 ? (step > 0 ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, i + step));
  items[next].focus();
  ev.preventDefault();
});

/* swfd console: zoom and pan the timeline in place, expand every event.
 * Own code, no dependencies. The server draws the timeline and serves zoom links,
 * so the page works without this script; with it, the same links (and the mouse
 * wheel, and dragging) change the plot's viewBox instead of reloading the page. */
"use strict";

(function () {
  function durationText(seconds) {
    if (seconds < 10) { return String(Number(seconds.toFixed(3))) + "s"; }
    if (seconds < 60) { return seconds.toFixed(1) + "s"; }
    if (seconds < 3600) {
      return Math.floor(seconds / 60) + "m" + String(Math.floor(seconds % 60)).padStart(2, "0") + "s";
    }
    return Math.floor(seconds / 3600) + "h" +
      String(Math.floor((seconds % 3600) / 60)).padStart(2, "0") + "m";
  }

  function setupTimeline(outer) {
    var plot = outer.querySelector("svg.plot");
    if (!plot) { return; }
    var span = parseFloat(plot.getAttribute("data-span")) / 1000;
    var height = plot.viewBox.baseVal.height;
    var view = { from: parseFloat(outer.getAttribute("data-from")),
                 to: parseFloat(outer.getAttribute("data-to")) };
    var label = document.querySelector(".zoom-controls .window");

    function show(from, to) {
      var width = Math.max(to - from, 0.001);
      width = Math.min(width, span);
      from = Math.min(Math.max(from, 0), span - width);
      view.from = from; view.to = from + width;
      plot.setAttribute("viewBox", (from * 1000).toFixed(3) + " 0 " + (width * 1000).toFixed(3) + " " + height);
      outer.setAttribute("data-from", view.from.toFixed(3));
      outer.setAttribute("data-to", view.to.toFixed(3));
      outer.querySelectorAll(".axis-label").forEach(function (text) {
        var fraction = parseFloat(text.getAttribute("data-fraction"));
        text.textContent = "+" + durationText(view.from + fraction * width);
      });
      if (label) {
        label.textContent = "showing +" + durationText(view.from) + " to +" +
          durationText(view.to) + " of " + durationText(span);
      }
    }

    function zoom(factor, centre) {
      var width = (view.to - view.from) * factor;
      if (centre === undefined) { centre = (view.from + view.to) / 2; }
      var left = (centre - view.from) / (view.to - view.from);
      show(centre - left * width, centre - left * width + width);
    }

    var actions = {
      "in": function () { zoom(0.5); },
      "out": function () { zoom(2); },
      "left": function () { var w = view.to - view.from; show(view.from - w / 2, view.to - w / 2); },
      "right": function () { var w = view.to - view.from; show(view.from + w / 2, view.to + w / 2); },
      "reset": function () { show(0, span); }
    };
    document.querySelectorAll("a.zoom").forEach(function (link) {
      link.addEventListener("click", function (event) {
        // A thinned drawing (a big history) is redrawn by the server for the new window.
        if (outer.getAttribute("data-thinned") === "true") { return; }
        var kind = Object.keys(actions).find(function (k) { return link.classList.contains(k); });
        if (kind) { event.preventDefault(); actions[kind](); }
      });
    });

    function timeAt(clientX) {
      var box = plot.getBoundingClientRect();
      return view.from + (clientX - box.left) / box.width * (view.to - view.from);
    }
    plot.addEventListener("wheel", function (event) {
      event.preventDefault();
      zoom(event.deltaY < 0 ? 0.8 : 1.25, timeAt(event.clientX));
    }, { passive: false });

    // Drag to pan; a press that does not move stays a click (a bar links to its event).
    var drag = null;
    plot.addEventListener("pointerdown", function (event) {
      drag = { x: event.clientX, from: view.from, to: view.to, moved: false, id: event.pointerId };
    });
    plot.addEventListener("pointermove", function (event) {
      if (!drag) { return; }
      if (!drag.moved && Math.abs(event.clientX - drag.x) < 4) { return; }
      if (!drag.moved) { drag.moved = true; plot.setPointerCapture(drag.id); }
      var box = plot.getBoundingClientRect();
      var shift = (event.clientX - drag.x) / box.width * (drag.to - drag.from);
      show(drag.from - shift, drag.to - shift);
    });
    plot.addEventListener("click", function (event) {
      if (drag && drag.moved) { event.preventDefault(); }
      drag = null;
    }, true);
    plot.addEventListener("pointerup", function () {
      if (drag && !drag.moved) { drag = null; }
    });
    show(view.from, view.to);
  }

  function setupEvents() {
    var link = document.querySelector("a.expand-all");
    if (!link) { return; }
    link.hidden = false;
    link.addEventListener("click", function (event) {
      event.preventDefault();
      var all = document.querySelectorAll("table.events details");
      var open = !Array.prototype.every.call(all, function (d) { return d.open; });
      all.forEach(function (d) { d.open = open; });
      link.textContent = open ? "Collapse all" : "Expand all";
    });
  }

  // An open execution's page can follow it: reload every 5 s, remembered for the tab.
  function setupFollow() {
    var box = document.getElementById("follow");
    if (!box) { return; }
    box.parentElement.hidden = false;
    box.checked = window.sessionStorage.getItem("swfd-follow") === "1";
    var timer = null;
    function arm() {
      window.clearTimeout(timer);
      if (box.checked) { timer = window.setTimeout(function () { window.location.reload(); }, 5000); }
    }
    box.addEventListener("change", function () {
      window.sessionStorage.setItem("swfd-follow", box.checked ? "1" : "0");
      arm();
    });
    arm();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("svg.timeline").forEach(setupTimeline);
    setupEvents();
    setupFollow();
    document.documentElement.setAttribute("data-console-js", "ready");
  });
}());

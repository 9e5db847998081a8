// A few lines that make the pages livelier; every page works without them.
// - The unconfirmed-change banner counts down to its deadline.
// - The dashboard refreshes its live part on every sample and shows new
//   events at once (server-sent events from /events/stream).
(function () {
	"use strict";

	var deadline = document.querySelector("[data-seconds-left]");
	if (deadline) {
		var end = Date.now() + 1000 * Number(deadline.getAttribute("data-seconds-left"));
		var timer = setInterval(function () {
			var left = Math.round((end - Date.now()) / 1000);
			if (left <= 0) {
				clearInterval(timer);
				deadline.textContent = "reverting…";
				setTimeout(function () { location.reload(); }, 2000);
				return;
			}
			var m = Math.floor(left / 60), s = left % 60;
			deadline.textContent = (m > 0 ? m + "m " + (s < 10 ? "0" : "") : "") + s + "s left";
		}, 1000);
	}

	var live = document.getElementById("live");
	if (!live || !window.EventSource) return;
	var busy = false;
	function refresh() {
		if (busy) return;
		busy = true;
		fetch("/live", { credentials: "same-origin" }).then(function (r) {
			if (r.ok) return r.text();
			throw new Error(r.status);
		}).then(function (html) {
			live.innerHTML = html;
		}).catch(function () {}).finally(function () { busy = false; });
	}
	// The same "2006-01-02 15:04:05" local time the server renders.
	function stamp(d) {
		function two(n) { return (n < 10 ? "0" : "") + n; }
		return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " +
			two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
	}
	var es = new EventSource("/events/stream");
	es.addEventListener("tick", refresh);
	es.addEventListener("event", function (m) {
		var e = JSON.parse(m.data);
		var list = document.getElementById("events");
		var none = document.getElementById("no-events");
		if (none) none.remove();
		var li = document.createElement("li");
		var t = document.createElement("time");
		t.textContent = stamp(new Date(e.time));
		var k = document.createElement("span");
		k.className = "kind kind-" + e.kind;
		k.textContent = e.kind;
		li.append(t, " ", k, " ", e.message);
		list.prepend(li);
		while (list.children.length > 15) list.lastElementChild.remove();
		refresh();
	});
})();

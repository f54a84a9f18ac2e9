// Live updates: listen for `change` on /live (server-sent events) and swap in the new
// #live part of this same page. Without JavaScript the page is complete as served.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource || !window.fetch || !window.DOMParser) { return; }
  var note = document.querySelector(".live-js");
  if (note) { note.hidden = false; }
  var status = document.getElementById("live-status");
  var source = new EventSource(live.getAttribute("data-live"));
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { headers: { "Accept": "text/html" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) {
          live.innerHTML = fresh.innerHTML;
          live.setAttribute("data-version", fresh.getAttribute("data-version"));
          if (status) { status.textContent = status.getAttribute("data-updated"); }
        }
      })
      .catch(function () { /* the next change tries again */ })
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  source.addEventListener("change", refresh);
  // a change between serving the page and connecting: the versions differ
  source.addEventListener("hello", function (e) {
    if (e.data !== live.getAttribute("data-version")) { refresh(); }
  });
})();

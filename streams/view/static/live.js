// Refreshes an open org page when its org gets a new score record (server-sent events).
// The page works without it; nothing is fetched from elsewhere.
(function () {
  var script = document.currentScript;
  if (!script || !window.EventSource) { return; }
  var source = new EventSource(script.getAttribute("data-events"));
  source.addEventListener("update", function () {
    fetch(script.getAttribute("data-fragment"), { cache: "no-store" })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) {
        if (html !== null) { document.getElementById("main").innerHTML = html; }
      });
  });
})();

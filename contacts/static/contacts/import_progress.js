// The progress bar of a contact import being checked or applied (docs/imports.md, "In the admin").
// Asks the import's progress endpoint once a second, moves the bar, and reloads the page when the
// status changes (the page then shows the preview, the result or the error).
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box) {
    return;
  }
  var bar = document.getElementById("import-progress-bar");
  var text = document.getElementById("import-progress-text");
  var error = document.getElementById("import-progress-error");
  var url = box.dataset.url;
  var status = box.dataset.status;
  var verb = box.dataset.verb;
  var format = new Intl.NumberFormat("en-US");

  function show(data) {
    if (data.total > 0) {
      bar.max = data.total;
      bar.value = Math.min(data.done, data.total);
      bar.textContent = Math.floor((100 * bar.value) / data.total) + "%";
      text.textContent = format.format(data.done) + " of " + format.format(data.total) + " rows " + verb;
    }
    // Applying that hit an error is retried by the system; the page says so while it waits.
    error.textContent = data.error || "";
    error.style.display = data.error ? "" : "none";
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data.status !== status) {
          window.location.reload();
          return;
        }
        show(data);
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        // A restarting server or a dropped connection: keep asking, a little slower.
        window.setTimeout(poll, 3000);
      });
  }

  window.setTimeout(poll, 1000);
})();

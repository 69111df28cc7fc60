// Sysops Squad: small enhancements over pages that work without JavaScript.
(function () {
  "use strict";

  // "Use my current location": fills the hidden lat/lon fields of a form when the
  // customer allows it; without it (or without JavaScript) the town is used.
  function setUpGeolocation(box) {
    if (!("geolocation" in navigator)) return;
    box.hidden = false;
    var button = box.querySelector("[data-geo-button]");
    var status = box.querySelector("[data-geo-status]");
    var lat = box.querySelector("[data-geo-lat]");
    var lon = box.querySelector("[data-geo-lon]");
    button.addEventListener("click", function () {
      status.textContent = "Asking your browser for your location…";
      navigator.geolocation.getCurrentPosition(function (pos) {
        lat.value = pos.coords.latitude.toFixed(5);
        lon.value = pos.coords.longitude.toFixed(5);
        status.textContent = "Using your current location (" + lat.value + ", " + lon.value + "). The town is then optional.";
      }, function () {
        lat.value = ""; lon.value = "";
        status.textContent = "Your location is not available. Type your town instead.";
      }, { timeout: 10000, maximumAge: 60000 });
    });
  }

  // Forms marked data-once send once: a double click does not submit twice.
  function setUpOnce(form) {
    form.addEventListener("submit", function () {
      setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-geo]").forEach(setUpGeolocation);
    document.querySelectorAll("form[data-once]").forEach(setUpOnce);
  });
})();

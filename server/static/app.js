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


  // Live ticket status (server-sent events): the tags of the tickets on the page follow
  // their status; a ticket's page refreshes its timeline when the ticket changes, and a
  // list refreshes when a newer ticket appears. Without JavaScript the page shows the
  // state as of its loading.
  function refreshRegions(ids) {
    return fetch(window.location.href, { headers: { accept: "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ids.forEach(function (id) {
          var now = document.getElementById(id);
          var next = doc.getElementById(id);
          if (!now || !next) return;
          // Never throw away what someone is typing.
          var typing = Array.prototype.some.call(now.querySelectorAll("input[type=text], textarea"), function (f) {
            return f.value !== "" || f === document.activeElement;
          });
          if (!typing) now.innerHTML = next.innerHTML;
        });
      })
      .catch(function () { /* the next change tries again */ });
  }

  function setUpLive(box) {
    if (!("EventSource" in window)) return;
    var ticket = box.getAttribute("data-live-ticket");
    var version = parseInt(box.getAttribute("data-version") || "0", 10);
    var newest = box.getAttribute("data-live-newest") || "";
    var regions = Array.prototype.map.call(box.querySelectorAll("[data-live-region]"), function (r) { return r.id; });
    if (box.id && box.hasAttribute("data-live-region")) regions.push(box.id);
    var note = box.querySelector("[data-live-note]");
    var source = new EventSource(box.getAttribute("data-live"));
    source.addEventListener("open", function () {
      if (note) note.textContent = "Statuses on this page change as your tickets move.";
    });
    source.addEventListener("ticket", function (ev) {
      var c;
      try { c = JSON.parse(ev.data); } catch (e) { return; }
      var tags = document.querySelectorAll('[data-ticket-status="' + c.id + '"]');
      tags.forEach(function (tag) {
        if (tag.textContent !== c.label) tag.textContent = c.label;
        tag.className = "tag tag-" + c.status;
      });
      if (ticket) {
        if (c.id === ticket && c.version > version) {
          version = c.version;
          refreshRegions(regions);
        }
      } else if (tags.length === 0 && c.id > newest) {
        newest = c.id;
        refreshRegions(regions);
      }
    });
    source.addEventListener("reload", function () { refreshRegions(regions); });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-geo]").forEach(setUpGeolocation);
    document.querySelectorAll("form[data-once]").forEach(setUpOnce);
    document.querySelectorAll("[data-live]").forEach(setUpLive);
  });
})();

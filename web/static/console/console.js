// The founder console's only script: hand-off notifications, live transcript while taken
// over, retrain progress. Text always goes through textContent (never innerHTML).
(function () {
  "use strict";
  var body = document.body;
  var prefix = body.dataset.prefix || "/console";
  var csrf = body.dataset.csrf || "";
  if (!csrf) return; // login page

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); });
  }

  // --- hand-off requests: badge, toast and (if allowed) a desktop notification ----------
  var seenKey = "lb-console-handoff-seen";
  var badge = document.getElementById("handoff-badge");
  var toast = document.getElementById("notify");
  var deadBadge = document.getElementById("dead-letter-badge");
  function showHandoffs(data) {
    if (deadBadge) {
      deadBadge.hidden = !data.dead_letters;
      deadBadge.textContent = data.dead_letters ? String(data.dead_letters) : "";
    }
    if (badge) {
      badge.hidden = !data.count;
      badge.textContent = data.count ? String(data.count) : "";
    }
    document.title = (data.count ? "(" + data.count + ") " : "") + document.title.replace(/^\(\d+\) /, "");
    var seen = parseInt(localStorage.getItem(seenKey) || "0", 10);
    if (data.latest_id && data.latest_id > seen && data.items && data.items.length) {
      localStorage.setItem(seenKey, String(data.latest_id));
      if (seen === 0) return; // first visit: no alarm for old requests
      var item = data.items[0];
      var text = body.dataset.newHandoffText + ": " + item.customer + (item.preview ? " — " + item.preview : "");
      if (toast) {
        toast.textContent = "";
        var a = document.createElement("a");
        a.href = item.url;
        a.textContent = "🔔 " + text;
        toast.appendChild(a);
        toast.hidden = false;
      }
      if (window.Notification && Notification.permission === "granted") {
        var n = new Notification(body.dataset.newHandoffText, { body: text });
        n.onclick = function () { window.location.href = item.url; };
      }
    }
  }
  function pollHandoffs() {
    getJSON(prefix + "/api/handoffs").then(showHandoffs).catch(function () {});
  }
  pollHandoffs();
  setInterval(pollHandoffs, 10000);
  document.addEventListener("click", function () {
    if (window.Notification && Notification.permission === "default") Notification.requestPermission();
  }, { once: true });

  // --- live transcript while the founder has taken over ------------------------------------
  var conv = document.getElementById("conversation");
  var transcript = document.getElementById("transcript");
  if (conv && transcript && conv.dataset.live) {
    var last = parseInt(conv.dataset.last || "0", 10);
    var labels = { user: "👤", bot: "🤖", founder: "🧑‍🌾" };
    var append = function (m) {
      if (document.getElementById("m" + m.id)) return;
      var li = document.createElement("li");
      li.className = "turn " + m.role;
      li.id = "m" + m.id;
      var who = document.createElement("div");
      who.className = "who";
      who.textContent = (labels[m.role] || m.role) + " " + m.at;
      var text = document.createElement("div");
      text.className = "text";
      text.textContent = m.text;
      li.appendChild(who);
      li.appendChild(text);
      // The customer's photos (served by this console, behind the login, for this conversation).
      var photoBase = prefix + "/conversations/" + conv.dataset.id + "/attachments/";
      (m.photos || []).forEach(function (url) {
        if (typeof url !== "string" || url.indexOf(photoBase) !== 0) return;
        var img = document.createElement("img");
        img.className = "photo";
        img.src = url;
        img.alt = "📷";
        img.width = 320;
        li.appendChild(img);
      });
      transcript.appendChild(li);
      last = Math.max(last, m.id);
    };
    var poll = function () {
      getJSON(prefix + "/api/conversations/" + conv.dataset.id + "/messages?after=" + last)
        .then(function (rows) { rows.forEach(append); }).catch(function () {});
    };
    setInterval(poll, 2000);
    var form = document.getElementById("say-form");
    if (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var input = document.getElementById("say-text");
        var data = new FormData(form);
        fetch(form.action, { method: "POST", body: data, credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRF-Token": csrf } })
          .then(function (r) { return r.json(); })
          .then(function (res) { if (res.ok) { input.value = ""; poll(); } else { alert(res.error || "error"); } });
      });
    }
  }

  // --- retrain progress -----------------------------------------------------------------
  var retrain = document.getElementById("retrain");
  if (retrain) {
    var render = function (job) {
      if (!job || job.status === "none") return;
      document.getElementById("job").hidden = false;
      document.getElementById("job-progress").value = job.progress;
      document.getElementById("job-step").textContent = job.step;
      document.getElementById("job-status").textContent = job.status;
      document.getElementById("job-result").textContent = JSON.stringify(job.result) + (job.error ? "\n" + job.error : "");
      document.getElementById("job-log").textContent = (job.log || []).join("\n");
      retrain.dataset.status = job.status;
      var button = retrain.querySelector("button");
      if (button) button.disabled = job.status === "running";
    };
    var tick = function () {
      getJSON(prefix + "/api/retrain").then(function (job) {
        render(job);
        if (job.status === "running") setTimeout(tick, 2000);
      }).catch(function () {});
    };
    if (retrain.dataset.status === "running") tick();
  }
})();

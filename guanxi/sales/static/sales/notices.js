// The unread badge in the top bar: a reminder pushed over /ws/notifications (Channels) raises the count at once.
(function () {
  if (!document.querySelector("[data-notices]") || !("WebSocket" in window)) return;
  let tries = 0;
  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/notifications");
    ws.onopen = () => { tries = 0; };
    ws.onmessage = (e) => {
      let msg; try { msg = JSON.parse(e.data); } catch (err) { return; }
      if (msg.type !== "sales.activity_reminder") return;
      const badge = document.querySelector("[data-notice-count]"); // htmx may have swapped it since the page loaded
      if (!badge) return;
      const n = (parseInt(badge.textContent, 10) || 0) + 1;
      badge.textContent = n > 99 ? "99+" : String(n);
      badge.hidden = false;
    };
    ws.onclose = () => { if (tries++ < 5) setTimeout(connect, 2000 * tries); };
  }
  connect();
})();

// The agent console: a websocket nudge (/ws/contact-center/agent) makes htmx refetch the offers or a conversation's
// messages at once; countdowns tick locally; A / R accept or reject the first offer from the keyboard.
(function () {
  const main = document.getElementById("cc-main");
  if (!main) return;
  const live = document.querySelector("[data-testid=cc-live]");
  function setLive(on) {
    if (!live) return;
    live.dataset.state = on ? "on" : "off";
    live.textContent = on ? live.dataset.on : live.dataset.off;
  }
  let tries = 0;
  function connect() {
    if (!("WebSocket" in window)) return;
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + main.dataset.ws);
    ws.onopen = () => { tries = 0; };
    ws.onmessage = (e) => {
      let msg; try { msg = JSON.parse(e.data); } catch (err) { return; }
      if (msg.kind === "cc.hello") setLive(true);
      else if (msg.kind === "cc.offer") { main.dataset.refreshedBy = "push"; htmx.trigger(document.body, "cc-refresh"); }
      else if (msg.kind === "cc.message") htmx.trigger(document.body, "cc-msg-" + msg.conversation_id);
    };
    ws.onclose = () => { setLive(false); setTimeout(connect, Math.min(1000 * ++tries, 10000)); };
  }
  connect();

  // countdowns: seconds left as rendered by the server, ticking from when the element appeared
  setInterval(() => {
    const now = Date.now();
    document.querySelectorAll("[data-seconds]").forEach((el) => {
      if (!el.dataset.t0) el.dataset.t0 = String(now);
      const left = Math.max(0, parseInt(el.dataset.seconds, 10) - Math.floor((now - parseInt(el.dataset.t0, 10)) / 1000));
      el.textContent = String(left);
      el.classList.toggle("cc-urgent", left <= 5);
    });
  }, 250);

  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && t.tagName === "TEXTAREA" && t.form) {
      e.preventDefault();
      t.form.requestSubmit();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName) || t.isContentEditable) return;
    const key = e.key.toLowerCase();
    const action = key === "a" ? "accept" : key === "r" ? "reject" : null;
    if (!action) return;
    const button = document.querySelector("[data-action=" + action + "]");
    if (button) { e.preventDefault(); button.click(); }
  });

})();

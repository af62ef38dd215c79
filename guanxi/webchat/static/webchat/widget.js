// Guanxi web chat widget (网页聊天). A website includes it with one tag:
//   <script src="https://crm.example.cn/webchat/widget.js" data-key="PUBLIC-KEY" async></script>
// Optional: data-lang="zh|en" (else the page's <html lang>, else the browser's language).
// It opens a websocket to /ws/webchat/<key>; every message the visitor sends carries a client id, is kept until the
// server acknowledges it and is sent again after a reconnect (the server stores it once). The resume token lives in
// sessionStorage, so a reload or a dropped socket continues the same chat.
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-key][src*='webchat/widget.js']");
  if (!script || !script.dataset.key || window.__guanxiChat) return;
  window.__guanxiChat = true;
  var key = script.dataset.key;
  var origin = new URL(script.src, location.href).origin;
  var pageLang = (script.dataset.lang || document.documentElement.lang || navigator.language || "zh").toLowerCase();
  var lang = pageLang.indexOf("zh") === 0 ? "zh" : "en";
  var T = {
    zh: { launcher: "在线咨询", title: "在线客服", name: "您的称呼", email: "邮箱", phone: "手机",
      first: "您想咨询什么？", start: "开始咨询", send: "发送", placeholder: "输入消息，回车发送",
      leave: "留言", leaveTitle: "给我们留言", leaveBody: "留言内容", leaveSend: "提交留言", end: "结束对话",
      contactHint: "留下邮箱或手机，方便我们回复您（可选）", reconnecting: "连接中断，正在重新连接…",
      connecting: "正在连接…", you: "我", agent: "客服", close: "关闭", sending: "发送中…",
      ready: "客服在线，请开始咨询。", busy: "客服正忙，您可以先留言。", closed: "现在不在服务时间，您可以留言。" },
    en: { launcher: "Chat with us", title: "Customer service", name: "Your name", email: "Email", phone: "Phone",
      first: "How can we help?", start: "Start chat", send: "Send", placeholder: "Type a message, Enter sends",
      leave: "Leave a message", leaveTitle: "Leave us a message", leaveBody: "Your message", leaveSend: "Send message",
      end: "End chat", contactHint: "Your email or phone, so we can answer you (optional)",
      reconnecting: "Connection lost, reconnecting…", connecting: "Connecting…", you: "You", agent: "Agent",
      close: "Close", sending: "Sending…", ready: "An agent is online. Start the chat.",
      busy: "All agents are busy: you may leave a message.", closed: "We are closed now: you may leave a message." },
  }[lang];
  var store = window.sessionStorage;
  var SKEY = "guanxi-chat:" + key;
  var saved = {};
  try { saved = JSON.parse(store.getItem(SKEY) || "{}"); } catch (e) { saved = {}; }
  var token = saved.token || "";
  var lastId = saved.lastId || 0;
  var outbox = saved.outbox || []; // [{cid, body}] not yet acknowledged
  var seen = {};
  var ws = null, tries = 0, fatal = false, started = !!token;
  function persist() { try { store.setItem(SKEY, JSON.stringify({ token: token, lastId: lastId, outbox: outbox })); } catch (e) { /* private mode */ } }
  function cid() { return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }

  // --- the DOM, in a shadow root so the page's styles do not reach in ---
  var host = document.createElement("div");
  host.id = "guanxi-chat";
  host.setAttribute("data-testid", "gx-chat");
  document.body.appendChild(host);
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>:host{all:initial}*{box-sizing:border-box;font:14px/1.4 system-ui,sans-serif}" +
    ".launch{position:fixed;right:20px;bottom:20px;z-index:2147483000;background:#b32d2e;color:#fff;border:0;border-radius:22px;padding:10px 18px;cursor:pointer}" +
    ".panel{position:fixed;right:20px;bottom:20px;z-index:2147483001;width:340px;max-width:calc(100vw - 40px);height:480px;max-height:calc(100vh - 40px);background:#fff;color:#222;border:1px solid #ccc;border-radius:8px;box-shadow:0 4px 20px rgba(0,0,0,.2);display:flex;flex-direction:column}" +
    ".panel[hidden],.launch[hidden],form[hidden],p[hidden],button[hidden]{display:none}header{background:#b32d2e;color:#fff;padding:8px 12px;display:flex;justify-content:space-between;align-items:center;border-radius:8px 8px 0 0}" +
    "header button{background:none;border:0;color:#fff;cursor:pointer;font-size:18px}.status{margin:0;padding:6px 12px;background:#f6f6f6;font-size:13px}" +
    "ol{list-style:none;margin:0;padding:8px 12px;flex:1;overflow-y:auto}li{margin:4px 0;padding:6px 10px;border-radius:8px;max-width:85%;white-space:pre-wrap;word-wrap:break-word}" +
    "li.in{background:#fde9e9;margin-left:auto}li.out{background:#eef1f5}li.pending{opacity:.6}li small{display:block;color:#666;font-size:11px}" +
    "form{display:flex;flex-direction:column;gap:6px;padding:8px 12px;border-top:1px solid #eee}input,textarea{width:100%;padding:6px;border:1px solid #bbb;border-radius:4px}" +
    "button.main{background:#b32d2e;color:#fff;border:0;border-radius:4px;padding:7px;cursor:pointer}button.link{background:none;border:0;color:#b32d2e;cursor:pointer;text-decoration:underline;padding:0 12px 6px;text-align:left}" +
    ".err{color:#a00;margin:0;padding:0 12px;font-size:13px}.row{display:flex;gap:6px}</style>" +
    "<button class='launch' part='launcher' data-testid='gx-launch'></button>" +
    "<section class='panel' hidden role='dialog' aria-labelledby='gx-title'>" +
    "<header><strong id='gx-title'></strong><button type='button' class='x' data-testid='gx-close'>×</button></header>" +
    "<p class='status' data-testid='gx-status' role='status' aria-live='polite'></p>" +
    "<ol data-testid='gx-messages' aria-live='polite'></ol>" +
    "<p class='err' data-testid='gx-error' role='alert'></p>" +
    "<form class='pre' data-testid='gx-start-form'><input name='name' maxlength='100' data-testid='gx-name'>" +
    "<div class='row'><input name='email' type='email' maxlength='254' data-testid='gx-email'><input name='phone' maxlength='40' data-testid='gx-phone'></div>" +
    "<textarea name='body' rows='2' maxlength='2000' required data-testid='gx-first'></textarea><button class='main' type='submit' data-testid='gx-start'></button></form>" +
    "<form class='chat' hidden data-testid='gx-chat-form'><div class='row'><input name='body' maxlength='2000' autocomplete='off' data-testid='gx-input'>" +
    "<button class='main' type='submit' data-testid='gx-send'></button></div></form>" +
    "<button type='button' class='link leave-open' hidden data-testid='gx-leave-open'></button>" +
    "<form class='leave' hidden data-testid='gx-leave-form'><strong class='lt'></strong><textarea name='body' rows='3' maxlength='20000' required data-testid='gx-leave-body'></textarea>" +
    "<div class='row'><input name='email' type='email' maxlength='254' data-testid='gx-leave-email'><input name='phone' maxlength='40' data-testid='gx-leave-phone'></div>" +
    "<button class='main' type='submit' data-testid='gx-leave-send'></button></form>" +
    "<button type='button' class='link end' hidden data-testid='gx-end'></button></section>";
  function $(sel) { return root.querySelector(sel); }
  var launch = $(".launch"), panel = $(".panel"), list = $("ol"), statusEl = $(".status"), errEl = $(".err");
  var pre = $("form.pre"), chat = $("form.chat"), leave = $("form.leave"), leaveOpen = $(".leave-open"), endBtn = $(".end");
  launch.textContent = T.launcher; $("#gx-title").textContent = T.title; $(".x").setAttribute("aria-label", T.close);
  pre.name.placeholder = T.name; pre.email.placeholder = T.email; pre.phone.placeholder = T.phone; pre.body.placeholder = T.first;
  $("[data-testid=gx-start]").textContent = T.start; $("[data-testid=gx-send]").textContent = T.send;
  chat.body.placeholder = T.placeholder; leaveOpen.textContent = T.leave; $(".lt").textContent = T.leaveTitle;
  leave.body.placeholder = T.leaveBody; leave.email.placeholder = T.email; leave.phone.placeholder = T.phone;
  $("[data-testid=gx-leave-send]").textContent = T.leaveSend; endBtn.textContent = T.end;
  host.dataset.lang = lang;

  function setStatus(text, state) { statusEl.textContent = text || ""; if (state) host.dataset.state = state; }
  function showError(text) { errEl.textContent = text || ""; }
  function showForms(state) {
    pre.hidden = started;
    chat.hidden = !started || ["closed", "left_message", "offline"].indexOf(state) >= 0;
    endBtn.hidden = !started || ["closed", "left_message"].indexOf(state) >= 0;
  }
  function addMessage(m) {
    if (m.id && seen[m.id]) return;
    var li = m.cid ? list.querySelector("li[data-cid='" + m.cid + "']") : null;
    if (!li) { li = document.createElement("li"); list.appendChild(li); }
    li.className = (m.dir === "in" ? "in" : "out") + (m.pending ? " pending" : "");
    li.setAttribute("data-testid", m.dir === "in" ? "gx-msg-mine" : "gx-msg-agent");
    if (m.cid) li.setAttribute("data-cid", m.cid);
    if (m.id) { li.setAttribute("data-id", m.id); seen[m.id] = true; }
    li.textContent = "";
    var who = document.createElement("small");
    who.textContent = m.dir === "in" ? T.you : (m.author || T.agent);
    li.appendChild(who);
    li.appendChild(document.createTextNode(m.body));
    list.scrollTop = list.scrollHeight;
  }
  function send(obj) { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(obj)); return true; } return false; }
  function flush() { outbox.forEach(function (m) { send({ type: "msg", cid: m.cid, body: m.body }); }); }

  function connect() {
    if (fatal || !("WebSocket" in window)) return;
    setStatus(tries ? T.reconnecting : T.connecting);
    ws = new WebSocket(origin.replace(/^http/, "ws") + "/ws/webchat/" + encodeURIComponent(key) + "?lang=" + lang);
    ws.onopen = function () { tries = 0; host.dataset.socket = "open"; if (token) send({ type: "resume", token: token, after: lastId }); };
    ws.onmessage = function (e) {
      var msg; try { msg = JSON.parse(e.data); } catch (err) { return; }
      if (msg.type === "ready") {
        if (!token) setStatus(!msg.open ? T.closed : msg.agents ? T.ready : T.busy, msg.open ? (msg.agents ? "ready" : "busy") : "offline");
        leaveOpen.hidden = token ? leaveOpen.hidden : !!msg.agents;
      } else if (msg.type === "session") {
        token = msg.token; started = true; persist(); showForms("waiting");
      } else if (msg.type === "msgs") {
        msg.msgs.forEach(function (m) { addMessage(m); if (m.id > lastId) lastId = m.id; });
        persist();
        if (token && outbox.length) flush();
      } else if (msg.type === "ack") {
        outbox = outbox.filter(function (m) { return m.cid !== msg.cid; }); persist();
      } else if (msg.type === "state") {
        setStatus(msg.text, msg.state);
        leaveOpen.hidden = !msg.leave || !leave.hidden;
        showForms(msg.state);
        if (msg.state === "left_message") leave.hidden = true;
      } else if (msg.type === "error") {
        if (msg.code === "unknown_session") { token = ""; lastId = 0; outbox = []; started = false; persist(); showForms(""); }
        if (msg.fatal) { fatal = true; launch.hidden = true; panel.hidden = true; host.dataset.state = "unavailable"; }
        if (msg.cid) {  // that message was refused: not resent
          outbox = outbox.filter(function (m) { return m.cid !== msg.cid; }); persist();
          var li = list.querySelector("li[data-cid='" + msg.cid + "']"); if (li) li.remove();
        }
        var fields = msg.fields || {};
        showError(Object.keys(fields).map(function (k) { return fields[k]; }).join(" ") || msg.message);
      }
    };
    ws.onclose = function () {
      host.dataset.socket = "closed";
      if (!fatal) { setStatus(T.reconnecting); setTimeout(connect, Math.min(500 * Math.pow(2, tries++), 10000)); }
    };
  }

  launch.addEventListener("click", function () { panel.hidden = false; launch.hidden = true; if (!ws) connect(); });
  $(".x").addEventListener("click", function () { panel.hidden = true; launch.hidden = false; });
  pre.addEventListener("submit", function (e) {
    e.preventDefault(); showError("");
    var body = pre.body.value.trim(); if (!body) return;
    var id = cid();
    addMessage({ cid: id, dir: "in", body: body, pending: true });
    send({ type: "start", cid: id, body: body, name: pre.name.value, email: pre.email.value, phone: pre.phone.value });
    leave.email.value = pre.email.value; leave.phone.value = pre.phone.value;
  });
  chat.addEventListener("submit", function (e) {
    e.preventDefault(); showError("");
    var body = chat.body.value.trim(); if (!body) return;
    var m = { cid: cid(), body: body };
    outbox.push(m); persist();
    addMessage({ cid: m.cid, dir: "in", body: body, pending: true });
    send({ type: "msg", cid: m.cid, body: body });
    chat.body.value = "";
  });
  leaveOpen.addEventListener("click", function () { leave.hidden = false; leaveOpen.hidden = true; pre.hidden = true; });
  leave.addEventListener("submit", function (e) {
    e.preventDefault(); showError("");
    var payload = { type: "leave", body: leave.body.value, email: leave.email.value, phone: leave.phone.value, name: pre.name.value };
    if (!token) {  // not started yet: start with the message, then leave it
      var id = cid();
      send({ type: "start", cid: id, body: leave.body.value, name: pre.name.value, email: leave.email.value, phone: leave.phone.value });
      var once = function (ev) { var m = JSON.parse(ev.data); if (m.type === "session") { ws.removeEventListener("message", once); send(payload); } };
      ws.addEventListener("message", once);
    } else send(payload);
  });
  endBtn.addEventListener("click", function () { send({ type: "end" }); });
  if (token) { panel.hidden = false; launch.hidden = true; showForms("waiting"); connect(); }
  // test and integration hook: the page may ask for the socket to drop (the widget reconnects and resumes)
  host.addEventListener("guanxi-chat-drop", function () { if (ws) ws.close(); });
})();

// shequ pages: the language switch, the login, and calls to the API with the token. No framework.
(function () {
  "use strict";
  const store = window.sessionStorage;
  const shequ = (window.shequ = window.shequ || {});

  shequ.lang = function (lang) {
    if (lang) { window.localStorage.setItem("shequ-lang", lang); }
    const now = lang || window.localStorage.getItem("shequ-lang") || "zh";
    document.documentElement.lang = now;
    return now;
  };
  shequ.t = (zh, en) => (document.documentElement.lang === "en" ? en : zh);
  // both languages as HTML (the arguments are HTML): a message stays right when the language is switched
  shequ.tt = (zh, en) => `<span class="zh">${zh}</span><span class="en">${en}</span>`;
  shequ.esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  shequ.token = () => store.getItem("shequ-token");
  shequ.user = () => JSON.parse(store.getItem("shequ-user") || "null");

  shequ.api = async function (path, opts) {
    opts = Object.assign({ headers: {} }, opts || {});
    const token = shequ.token();
    if (token) { opts.headers.Authorization = "Bearer " + token; }
    if (opts.json !== undefined) {
      opts.body = JSON.stringify(opts.json);
      opts.headers["Content-Type"] = "application/json";
      delete opts.json;
    }
    const r = await fetch(path, opts);
    if (r.status === 401 && token) { shequ.logout(false); }
    return r;
  };

  shequ.login = async function (name, password) {
    const body = new URLSearchParams({ username: name, password: password });
    const r = await fetch("/login", { method: "POST", body: body });
    const answer = await r.json();
    if (!r.ok) { throw new Error(answer.description || r.statusText); }
    store.setItem("shequ-token", answer.access_token);
    const me = await (await shequ.api("/users/me")).json();
    store.setItem("shequ-user", JSON.stringify(me));
    shequ.showUser();
    document.dispatchEvent(new CustomEvent("shequ:login", { detail: me }));
    return me;
  };

  shequ.logout = function (tell) {
    const token = shequ.token();
    // the server revokes the token and forgets the login cookie the page navigations carry
    if (tell !== false) { fetch("/logout", { method: "POST", headers: token ? { Authorization: "Bearer " + token } : {} }); }
    store.removeItem("shequ-token");
    store.removeItem("shequ-user");
    shequ.showUser();
    document.dispatchEvent(new CustomEvent("shequ:logout"));
  };

  shequ.showUser = function () {
    const box = document.getElementById("sq-user");
    if (!box) { return; }
    const me = shequ.user();
    box.innerHTML = me
      ? `${shequ.esc(me.name)} <span class="muted" style="color:#cfe">(${shequ.esc(me.role)})</span> <button id="sq-logout" type="button"><span class="zh">退出</span><span class="en">Log out</span></button>`
      : '<a href="#" id="sq-login-link"><span class="zh">登录</span><span class="en">Log in</span></a>';
    const out = document.getElementById("sq-logout");
    if (out) { out.onclick = () => shequ.logout(); }
    const link = document.getElementById("sq-login-link");
    if (link) { link.onclick = (e) => { e.preventDefault(); shequ.askLogin(); }; }
  };

  // A login form in a box; resolves with the user.
  shequ.askLogin = function (why) {
    return new Promise((resolve) => {
      let box = document.getElementById("sq-login-box");
      if (box) { box.remove(); }
      box = document.createElement("div");
      box.id = "sq-login-box";
      box.style.cssText = "position:fixed;inset:0;z-index:3000;background:rgba(0,0,0,.35);display:flex;align-items:center;justify-content:center";
      box.innerHTML = `<form class="sq-login" style="background:#fff;padding:18px 20px;border-radius:6px;min-width:300px">
        <h2 style="margin-top:0"><span class="zh">登录</span><span class="en">Log in</span></h2>
        ${why ? `<p class="muted">${why}</p>` : ""}
        <label><span class="zh">用户名</span><span class="en">User name</span><br><input name="username" autocomplete="username" required style="width:100%;padding:6px"></label>
        <label><span class="zh">密码</span><span class="en">Password</span><br><input name="password" type="password" autocomplete="current-password" required style="width:100%;padding:6px"></label>
        <div class="msg bad" id="sq-login-error"></div>
        <button class="sq" type="submit"><span class="zh">登录</span><span class="en">Log in</span></button>
        <button class="sq secondary" type="button" id="sq-login-cancel"><span class="zh">取消</span><span class="en">Cancel</span></button>
      </form>`;
      document.body.appendChild(box);
      const form = box.querySelector("form");
      form.username.focus();
      box.querySelector("#sq-login-cancel").onclick = () => box.remove();
      form.onsubmit = async (e) => {
        e.preventDefault();
        try {
          const me = await shequ.login(form.username.value, form.password.value);
          box.remove();
          resolve(me);
        } catch (err) {
          box.querySelector("#sq-login-error").textContent = shequ.t("用户名或密码错误：", "Wrong user name or password: ") + err.message;
        }
      };
    });
  };

  document.addEventListener("DOMContentLoaded", () => {
    shequ.lang();
    shequ.showUser();
    const toggle = document.getElementById("sq-lang");
    if (toggle) { toggle.onclick = () => shequ.lang(document.documentElement.lang === "en" ? "zh" : "en"); }
  });
})();

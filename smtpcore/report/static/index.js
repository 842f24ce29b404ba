"use strict";
/* The index of report.html: tables drawn page by page from the JSON blocks above,
   sorted, filtered and linked through the address's #fragment; an activity chart in
   SVG. No network, no library: allowed by the page's CSP hash and nothing else. */
(function () {
  var doc = document;
  function data(id) { return JSON.parse(doc.getElementById(id).textContent); }
  var SRC = data("d-sources"), M = data("d-messages"), C = data("d-credentials"), S = data("d-sessions");
  var W = data("d-warnings").map(function (w, i) { return { i: i + 1, w: w }; });

  /* -- hidden characters: shown by code point, as the Python side does -------------- */
  var HID = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]/u;
  var HID1 = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]$/u;
  function cp(ch) {
    var h = ch.codePointAt(0).toString(16).toUpperCase();
    while (h.length < 4) h = "0" + h;
    return "\u27e8U+" + h + "\u27e9";
  }
  function plain(s) {
    if (s === null || s === undefined) return "";
    s = String(s);
    if (!HID.test(s)) return s;
    var out = "";
    for (var ch of s) out += HID1.test(ch) ? cp(ch) : ch;
    return out;
  }
  function put(el, s) {
    if (s === null || s === undefined) return el;
    s = String(s);
    if (!HID.test(s)) { el.appendChild(doc.createTextNode(s)); return el; }
    var buf = "";
    for (var ch of s) {
      if (HID1.test(ch)) {
        if (buf) { el.appendChild(doc.createTextNode(buf)); buf = ""; }
        var span = doc.createElement("span");
        span.className = "cp";
        span.textContent = cp(ch);
        el.appendChild(span);
      } else buf += ch;
    }
    if (buf) el.appendChild(doc.createTextNode(buf));
    return el;
  }
  function el(tag, cls, text) {
    var e = doc.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) put(e, text);
    return e;
  }
  function link(hrefValue, text, cls) {
    var a = el("a", cls, text);
    a.setAttribute("href", hrefValue);
    return a;
  }
  function tag(text, cls) { return el("span", "tag" + (cls ? " " + cls : ""), text); }
  function yesno(v) {
    if (v === true) return tag("yes", "ok");
    if (v === false) return tag("no", "bad");
    return tag("unknown", "warn");
  }
  function ms(iso) {
    if (!iso) return NaN;
    return Date.parse(iso.length > 23 ? iso.slice(0, 23) + "Z" : iso);
  }
  function base(path) {
    var i = path ? path.lastIndexOf("/") : -1;
    return i >= 0 ? path.slice(i + 1) : path || "";
  }
  function q(key, value) { return key + "=" + encodeURIComponent(value); }
  function joinAll(list) { return list.filter(function (x) { return x; }).join(" \u00b7 "); }

  /* -- cross references -------------------------------------------------------------- */
  var perSession = {};
  function ps(sid) { return perSession[sid] || (perSession[sid] = { m: 0, c: 0, fail: 0 }); }
  M.forEach(function (r) { ps(r.sid).m++; });
  C.forEach(function (r) { var p = ps(r.sid); p.c++; if (r.ok !== true) p.fail++; });

  function sourceCell(td, r) {
    var src = SRC[r.si];
    var name = el("div", "line", base(src.path));
    name.title = plain(src.image ? src.image + "\n" + src.path : src.path);
    td.appendChild(name);
    if (src.image) td.appendChild(el("div", "muted line", "in " + base(src.image)));
    if (src.deleted) td.appendChild(tag("deleted", "bad"));
  }
  function sessionLinks(td, sid) {
    var p = ps(sid);
    td.appendChild(link("#sessions?" + q("session", sid), sid));
    var line = el("div", "muted");
    line.appendChild(link("#messages?" + q("session", sid), p.m + " msg"));
    line.appendChild(doc.createTextNode(" \u00b7 "));
    line.appendChild(link("#credentials?" + q("session", sid), p.c + " auth"));
    td.appendChild(line);
  }
  function list(td, items, max) {
    items = items || [];
    items.slice(0, max).forEach(function (x) { td.appendChild(el("div", null, x)); });
    if (items.length > max) td.appendChild(el("div", "muted", "+" + (items.length - max) + " more"));
  }
  function cut(td, text) {
    td.className = (td.className ? td.className + " " : "") + "cut";
    put(td, text);
    td.title = plain(text) + "\n(click to show all)";
  }
  function when(td, iso) {  // date above time: narrower, still the exact ISO text
    td.className = "nowrap";
    td.title = iso || "";
    if (!iso) return;
    var i = iso.indexOf("T");
    td.appendChild(el("div", "muted", i > 0 ? iso.slice(0, i) : iso));
    if (i > 0) td.appendChild(el("div", null, iso.slice(i + 1)));
  }
  function endpoints(td, r) {
    td.className = "mono nowrap";
    td.appendChild(el("div", null, r.c));
    td.appendChild(el("div", "muted", "\u2192 " + r.s));
  }

  /* -- the tables -------------------------------------------------------------------- */
  var VIEWS = {
    messages: {
      rows: M, sort: "t", noun: "mail transactions",
      cols: [
        { key: "t", label: "Time (UTC)", cell: function (td, r) { when(td, r.t); } },
        { key: "id", label: "Message", cls: "nowrap", cell: function (td, r) {
            if (r.p) td.appendChild(link(r.p, r.id, "msg")); else put(td, r.id);
            td.appendChild(el("div", "muted")).appendChild(link("#sessions?" + q("session", r.sid), r.sid));
          } },
        { key: "si", label: "Source", cls: "src", sortv: function (r) { return SRC[r.si].src; }, cell: sourceCell },
        { key: "c", label: "Client \u2192 server", cell: endpoints },
        { key: "mf", label: "Envelope", cell: function (td, r) {
            td.className = "env";
            var from = el("div", "line", r.mf === "" ? "<> (null sender)" : r.mf);
            from.title = plain(r.mf);
            td.appendChild(from);
            var to = el("div", "line muted", "\u2192 " + r.rt.join(", "));
            to.title = plain(r.rt.join("\n"));
            td.appendChild(to);
            if (r.rj.length) td.appendChild(tag(r.rj.length + " refused", "bad")).title = plain(r.rj.join(", "));
          } },
        { key: "f", label: "From", cell: function (td, r) { cut(td, r.f); } },
        { key: "to", label: "To", cell: function (td, r) { cut(td, r.to); } },
        { key: "sub", label: "Subject", cell: function (td, r) {
            td.className = "wide";
            // Received mail told apart from sent at a glance (sent mail carries no tag).
            if (r.pr !== "smtp") {
              td.appendChild(tag(r.pr.toUpperCase() + " " + r.kd, "warn"));
              if (r.mb) td.appendChild(el("span", "muted", " " + r.mb + " "));
            }
            if (r.p) td.appendChild(link(r.p, r.sub === null ? "(no subject)" : r.sub, "subj"));
            else put(td, r.sub);
          } },
        { key: "at", label: "Attachments", cls: "atts", sortv: function (r) { return r.at.length; }, cell: function (td, r) {
            r.at.slice(0, 3).forEach(function (a) {
              var name = el("div", "line", a.n === null ? "(no name)" : a.n);
              name.title = plain(a.n);
              if (a.in) name.appendChild(tag("inline"));
              td.appendChild(name);
              var type = el("div", "line mono muted type" + (a.fl.length ? " bad" : ""), a.dt || "(empty)");
              if (a.ct !== a.dt) type.appendChild(el("span", "muted", " declared " + a.ct));
              type.title = "detected " + (a.dt || "nothing (empty)") + ", declared " + a.ct;
              td.appendChild(type);
              if (a.fl.length) {
                var flags = el("div", "flags");
                a.fl.forEach(function (f) { flags.appendChild(tag(shortFlag(f), "warn")).title = plain(f); });
                td.appendChild(flags);
              }
            });
            if (r.at.length > 3) td.appendChild(el("div", "muted", "+" + (r.at.length - 3) + " more"));
          } },
        { key: "au", label: "Auth user", cell: function (td, r) { cut(td, r.au); td.classList.add("narrow"); } },
        { key: "acc", label: "Accepted", sortv: function (r) { return r.acc === null ? null : r.acc ? 1 : 0; },
          cell: function (td, r) { td.appendChild(yesno(r.acc)); } },
        { key: "cmp", label: "Complete", sortv: function (r) { return r.cmp ? 1 : 0; }, cell: function (td, r) {
            if (r.cmp) td.appendChild(tag("yes", "ok"));
            else if (r.pa && !r.miss) { td.appendChild(tag("partial")); td.appendChild(el("div", "muted nowrap", r.pa)); }
            else { td.appendChild(tag("no", "bad")); td.appendChild(el("div", "muted nowrap", r.miss + " B missing")); }
          } },
        { key: "al", label: "Flags", cls: "flags", sortv: function (r) { return r.al.length + r.w; }, cell: function (td, r) {
            r.al.slice(0, 2).forEach(function (f) { td.appendChild(el("div", "flag line", f)).title = plain(f); });
            if (r.al.length > 2) td.appendChild(el("div", "muted", "+" + (r.al.length - 2) + " more"));
            if (r.w) td.appendChild(el("div", "muted", r.w + " warning" + (r.w > 1 ? "s" : "")));
            if (r.al.length) td.parentNode.className = "flagged";
          } }
      ],
      text: function (r) {
        return [r.id, r.t, SRC[r.si].src, r.sid, r.c, r.s, r.pr, r.kd, r.mb, r.pa, r.mf, r.rt.join(" "), r.rj.join(" "), r.f, r.to, r.cc, r.sub, r.rto,
          r.au, r.at.map(function (a) { return [a.n, a.ct, a.dt].concat(a.fl).join(" "); }).join(" "), r.al.join(" ")];
      },
      filters: [
        { name: "q", label: "Search all columns", type: "search" },
        { name: "sender", label: "Sender (envelope or From)", type: "text",
          test: function (r, v) { return has([r.mf, r.f], v); } },
        { name: "recipient", label: "Recipient (envelope, To, Cc)", type: "text",
          test: function (r, v) { return has(r.rt.concat(r.rj, [r.to, r.cc]), v); } },
        { name: "protocol", label: "Protocol", type: "select",
          options: [["", "all"], ["smtp", "SMTP (sent)"], ["pop3", "POP3"], ["imap", "IMAP"], ["received", "received (POP3, IMAP)"]],
          test: function (r, v) { return v === "received" ? r.pr !== "smtp" : r.pr === v; } },
        { name: "mailbox", label: "Mailbox", type: "text",
          test: function (r, v) { return has([r.mb], v); } },
        { name: "attachment", label: "Attachments", type: "select", options: attachmentOptions,
          test: function (r, v) {
            if (v === "any") return r.at.length > 0;
            if (v === "none") return r.at.length === 0;
            if (v === "flagged") return r.at.some(function (a) { return a.fl.length > 0; });
            if (v.slice(0, 3) === "dt:") return r.at.some(function (a) { return (a.dt || "") === v.slice(3); });
            return true;
          } },
        { name: "status", label: "Status", type: "select",
          options: [["", "all"], ["incomplete", "incomplete"], ["refused", "refused (not accepted)"],
            ["problem", "incomplete or refused"], ["rcpt", "some recipients refused"],
            ["unknown", "outcome unknown"], ["flagged", "flagged"], ["auth", "sent after AUTH"]],
          test: function (r, v) {
            if (v === "incomplete") return !r.cmp;
            if (v === "refused") return r.acc === false;
            if (v === "problem") return !r.cmp || r.acc === false;
            if (v === "rcpt") return r.rj.length > 0;
            if (v === "unknown") return r.acc === null;
            if (v === "flagged") return r.al.length > 0;
            if (v === "auth") return !!r.au;
            return true;
          } },
        { name: "session", label: "session", type: "chip", test: function (r, v) { return r.sid === v; } },
        { name: "from", label: "from", type: "chip", test: function (r, v) { return ms(r.t) >= ms(v); } },
        { name: "to", label: "before", type: "chip", test: function (r, v) { return ms(r.t) < ms(v); } }
      ]
    },
    credentials: {
      rows: C, sort: "t", noun: "authentication attempts",
      cols: [
        { key: "t", label: "Time (UTC)", cell: function (td, r) { when(td, r.t); } },
        { key: "sid", label: "Session", cls: "nowrap", cell: function (td, r) { sessionLinks(td, r.sid); } },
        { key: "c", label: "Client \u2192 server", cell: endpoints },
        { key: "helo", label: "HELO", cell: function (td, r) { cut(td, r.helo); } },
        { key: "mech", label: "Mechanism", cell: function (td, r) {
            if (r.pr !== "smtp") td.appendChild(tag(r.pr.toUpperCase(), "warn"));
            put(td, r.mech);
          } },
        { key: "user", label: "User", cell: function (td, r) { td.className = "wide"; put(td, r.user); } },
        { key: "pw", label: "Password", cell: function (td, r) { td.className = "wide mono"; put(td, r.pw); } },
        { key: "az", label: "Other", cls: "other", sortv: function (r) { return r.az || r.dom || r.realm || r.ws || r.tok; }, cell: function (td, r) {
            [["authzid", r.az], ["realm", r.realm], ["domain", r.dom], ["workstation", r.ws]].forEach(function (p) {
              if (p[1]) td.appendChild(el("div", null, p[0] + ": " + p[1]));
            });
            if (r.tok) { var d = el("div", "line mono"); put(d, "token: " + r.tok); d.title = plain(r.tok); td.appendChild(d); }
            Object.keys(r.det || {}).forEach(function (k) {
              var v = r.det[k];
              if (v === null || v === "" || typeof v === "object") return;
              var line = el("div", "line muted", k + ": " + v);
              line.title = plain(k + ": " + v);
              td.appendChild(line);
            });
          } },
        { key: "ok", label: "Success", sortv: function (r) { return r.ok === null ? null : r.ok ? 1 : 0; }, cell: function (td, r) {
            td.appendChild(yesno(r.ok));
            if (r.ab) td.appendChild(el("div", "muted", "aborted"));
            if (r.rep) td.title = plain(r.rep);
          } },
        { key: "hc", label: "hashcat", cell: function (td, r) {
            td.className = "mono";
            if (r.hc) cut(td, "-m " + r.hm + "  " + r.hc);
            else if (r.jn) cut(td, "john --format=" + r.jf + "  " + r.jn);
          } }
      ],
      text: function (r) { return [r.t, r.sid, r.c, r.s, r.helo, r.mech, r.user, r.pw, r.az, r.realm, r.dom, r.ws, r.tok, r.hc, r.jn, r.rep, JSON.stringify(r.det || {})]; },
      filters: [
        { name: "q", label: "Search all columns", type: "search" },
        { name: "mechanism", label: "Mechanism", type: "select",
          options: function () { return valueOptions(C, function (r) { return r.mech; }); },
          test: function (r, v) { return r.mech === v; } },
        { name: "outcome", label: "Outcome", type: "select",
          options: [["", "all"], ["ok", "accepted"], ["failed", "failed"], ["unknown", "no reply seen"], ["hashcat", "with a hashcat line"]],
          test: function (r, v) {
            if (v === "ok") return r.ok === true;
            if (v === "failed") return r.ok === false;
            if (v === "unknown") return r.ok === null;
            if (v === "hashcat") return !!r.hc;
            return true;
          } },
        { name: "session", label: "session", type: "chip", test: function (r, v) { return r.sid === v; } }
      ]
    },
    sessions: {
      rows: S, sort: "st", noun: "sessions",
      cols: [
        { key: "sid", label: "Session", cls: "nowrap", cell: function (td, r) {
            sessionLinks(td, r.sid);
            if (r.pr !== "smtp") td.appendChild(tag(r.pr.toUpperCase(), "warn"));
          } },
        { key: "st", label: "Start (UTC)", cell: function (td, r) { when(td, r.st); } },
        { key: "et", label: "End (UTC)", cell: function (td, r) { when(td, r.et); } },
        { key: "si", label: "Source", cls: "src", sortv: function (r) { return SRC[r.si].src; }, cell: sourceCell },
        { key: "c", label: "Client \u2192 server", cell: endpoints },
        { key: "helo", label: "HELO", cell: function (td, r) { cut(td, r.helo); } },
        { key: "ban", label: "Banner", cell: function (td, r) { cut(td, r.ban); } },
        { key: "tls", label: "TLS", sortv: function (r) { return r.tls ? 1 : 0; }, cell: function (td, r) {
            if (r.tls) {
              td.appendChild(tag(r.stls ? "STARTTLS" : "TLS", "warn"));
              if (r.tv || r.tc) td.appendChild(el("div", "muted", [r.tv, r.tc].filter(Boolean).join(" ")));
              if (r.sni) td.appendChild(el("div", "muted", r.sni));
              if (r.dec) td.appendChild(tag("decrypted", "ok"));
              else if (r.tur) td.appendChild(el("div", "muted", "not decrypted: " + r.tur));
              if (r.ja3) td.appendChild(el("div", "muted", "JA3 " + r.ja3));
              if (r.ja4) td.appendChild(el("div", "muted", "JA4 " + r.ja4));
            }
            else put(td, "no");
          } },
        { key: "n", label: "Messages", cls: "num", cell: function (td, r) { td.appendChild(link("#messages?" + q("session", r.sid), String(r.n))); } },
        { key: "na", label: "AUTH", cls: "num", cell: function (td, r) {
            td.appendChild(link("#credentials?" + q("session", r.sid), String(r.na)));
            var f = ps(r.sid).fail;
            if (f) td.appendChild(el("div", "bad", f + " failed"));
          } },
        { key: "au", label: "Auth user", cell: function (td, r) { put(td, r.au); } },
        { key: "cmp", label: "Complete", sortv: function (r) { return r.cmp ? 1 : 0; }, cell: function (td, r) { td.appendChild(r.cmp ? tag("yes", "ok") : tag("no", "bad")); } },
        { key: "cr", label: "Close", cell: function (td, r) { put(td, r.cr); } },
        { key: "w", label: "Warnings", sortv: function (r) { return r.w.length; }, cell: function (td, r) { if (r.w.length) cut(td, r.w.join(" | ")); } }
      ],
      text: function (r) { return [r.sid, r.st, r.et, SRC[r.si].src, r.c, r.s, r.helo, r.ban, r.sni, r.tv, r.tc, r.tur, r.ja3, r.ja4, r.au, r.cr, r.w.join(" ")]; },
      filters: [
        { name: "q", label: "Search all columns", type: "search" },
        { name: "status", label: "Status", type: "select",
          options: [["", "all"], ["incomplete", "incomplete"], ["tls", "encrypted"], ["auth", "with AUTH"],
            ["authfail", "with failed AUTH"], ["nomail", "without mail"], ["warn", "with warnings"]],
          test: function (r, v) {
            if (v === "incomplete") return !r.cmp;
            if (v === "tls") return !!r.tls;
            if (v === "auth") return r.na > 0;
            if (v === "authfail") return ps(r.sid).fail > 0;
            if (v === "nomail") return !r.n;
            if (v === "warn") return r.w.length > 0;
            return true;
          } },
        { name: "session", label: "session", type: "chip", test: function (r, v) { return r.sid === v; } }
      ]
    },
    warnings: {
      rows: W, sort: "i", noun: "warnings",
      cols: [
        { key: "i", label: "#", cls: "num", cell: function (td, r) { put(td, String(r.i)); } },
        { key: "w", label: "Warning", cell: function (td, r) { td.className = "long"; put(td, r.w); } }
      ],
      text: function (r) { return [r.w]; },
      filters: [{ name: "q", label: "Search", type: "search" }]
    }
  };

  function shortFlag(f) {
    if (f.indexOf("hidden characters") === 0) return "hidden characters";
    if (f.indexOf("declared ") === 0) return "type differs";
    if (f.indexOf("name ends ") === 0) return "extension lies";
    if (f.indexOf("double extension ") === 0) return f.slice(17);
    if (f === "executable content") return "executable";
    return f;
  }
  function has(values, needle) {
    needle = needle.toLowerCase();
    return values.some(function (v) { return v && plain(v).toLowerCase().indexOf(needle) >= 0; });
  }
  function valueOptions(rows, get) {
    var seen = {};
    rows.forEach(function (r) { var v = get(r); if (v) seen[v] = (seen[v] || 0) + 1; });
    return [["", "all"]].concat(Object.keys(seen).sort().map(function (k) { return [k, k + " (" + seen[k] + ")"]; }));
  }
  function attachmentOptions() {
    var seen = {};
    M.forEach(function (r) { r.at.forEach(function (a) { var k = a.dt || ""; seen[k] = (seen[k] || 0) + 1; }); });
    return [["", "all"], ["any", "with attachments"], ["none", "without attachments"], ["flagged", "flagged attachments"]]
      .concat(Object.keys(seen).sort().map(function (k) { return ["dt:" + k, "detected " + (k || "(empty)") + " (" + seen[k] + ")"]; }));
  }

  /* -- state in the #fragment: view?filter=value&sort=key&dir=desc&page=n ------------ */
  var state = { view: "messages", p: {} };
  function readHash() {
    var h = location.hash.replace(/^#/, "");
    var i = h.indexOf("?");
    var view = i >= 0 ? h.slice(0, i) : h;
    state.view = VIEWS[view] || view === "activity" ? view : "messages";
    state.p = {};
    new URLSearchParams(i >= 0 ? h.slice(i + 1) : "").forEach(function (v, k) { state.p[k] = v; });
  }
  function writeHash() {
    var parts = [];
    Object.keys(state.p).forEach(function (k) { if (state.p[k] !== "" && state.p[k] !== undefined) parts.push(q(k, state.p[k])); });
    history.replaceState(null, "", "#" + state.view + (parts.length ? "?" + parts.join("&") : ""));
  }

  /* -- filtering, sorting, paging, with the last result kept ------------------------- */
  var cache = {};
  function rowText(view, r) {
    if (r.__q === undefined) {
      Object.defineProperty(r, "__q", { value: VIEWS[view].text(r).map(plain).join("\u0001").toLowerCase(), enumerable: false });
    }
    return r.__q;
  }
  function selected(view) {
    var def = VIEWS[view], p = state.p;
    var sortKey = p.sort || def.sort, dir = p.dir === "desc" ? -1 : 1;
    var active = def.filters.filter(function (f) { return p[f.name]; });
    var sig = JSON.stringify([sortKey, dir, active.map(function (f) { return [f.name, p[f.name]]; })]);
    if (cache[view] && cache[view].sig === sig) return cache[view].idx;
    var rows = def.rows, idx = [];
    var needle = (p.q || "").toLowerCase();
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i], ok = true;
      for (var j = 0; j < active.length && ok; j++) {
        var f = active[j];
        ok = f.name === "q" ? rowText(view, r).indexOf(needle) >= 0 : f.test(r, p[f.name]);
      }
      if (ok) idx.push(i);
    }
    var col = def.cols.filter(function (c) { return c.key === sortKey; })[0] || def.cols[0];
    var get = col.sortv || function (r) { return r[col.key]; };
    var keys = {};
    idx.forEach(function (i) {
      var v = get(rows[i]);
      keys[i] = Array.isArray(v) ? v.join(", ") : v;
    });
    idx.sort(function (a, b) {
      var ka = keys[a], kb = keys[b];
      var na = ka === null || ka === undefined || ka === "", nb = kb === null || kb === undefined || kb === "";
      if (na || nb) return na === nb ? a - b : na ? 1 : -1;  // empty values last, either way
      if (typeof ka === "string" && typeof kb !== "string") kb = String(kb);
      return (ka < kb ? -dir : ka > kb ? dir : 0) || a - b;
    });
    cache[view] = { sig: sig, idx: idx };
    return idx;
  }

  var main = doc.getElementById("view-table"), form = doc.getElementById("filters");
  var grid = doc.getElementById("grid"), builtFor = null;

  function buildForm(view) {
    var def = VIEWS[view];
    form.textContent = "";
    def.filters.forEach(function (f) {
      if (f.type === "chip") return;
      var label = el("label", null, f.label), input;
      if (f.type === "select") {
        input = doc.createElement("select");
        (typeof f.options === "function" ? f.options() : f.options).forEach(function (o) {
          var opt = doc.createElement("option");
          opt.value = o[0];
          opt.textContent = plain(o[1]);
          input.appendChild(opt);
        });
      } else {
        input = doc.createElement("input");
        input.type = f.type === "search" ? "search" : "text";
        input.placeholder = f.type === "search" ? "text, address, name, U+202E \u2026" : "contains \u2026";
      }
      input.name = f.name;
      input.id = "f-" + f.name;
      label.appendChild(input);
      form.appendChild(label);
    });
    var chips = el("span", null);
    chips.id = "chips";
    form.appendChild(chips);
    var reset = el("button", null, "Clear filters");
    reset.type = "button";
    reset.id = "clear";
    reset.addEventListener("click", function () { state.p = {}; writeHash(); render(); });
    form.appendChild(reset);
    var head = grid.tHead;
    head.textContent = "";
    var tr = head.insertRow();
    def.cols.forEach(function (c) {
      var th = el("th", null, c.label);
      th.setAttribute("data-key", c.key);
      th.title = "Sort by " + c.label;
      tr.appendChild(th);
    });
    builtFor = view;
  }

  var timer = null, typing = null;
  var pending = {};
  function applyPending() {
    clearTimeout(timer);
    Object.keys(pending).forEach(function (k) { state.p[k] = pending[k]; });
    pending = {};
    delete state.p.page;
    writeHash();
    render();
    typing = null;
  }
  form.addEventListener("input", function (e) {
    var t = e.target;
    if (!t.name) return;
    pending[t.name] = t.value;  // typing waits a moment; earlier edits are never lost
    typing = t;
    if (t.tagName === "SELECT") applyPending(); else { clearTimeout(timer); timer = setTimeout(applyPending, 150); }
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  grid.tHead.addEventListener("click", function (e) {
    var th = e.target.closest("th[data-key]");
    if (!th) return;
    var key = th.getAttribute("data-key"), cur = state.p.sort || VIEWS[state.view].sort;
    state.p.dir = key === cur && state.p.dir !== "desc" ? "desc" : "asc";
    state.p.sort = key;
    delete state.p.page;
    writeHash();
    render();
  });
  grid.tBodies[0].addEventListener("click", function (e) {
    var td = e.target.closest("td.cut");
    if (td && !e.target.closest("a")) td.classList.toggle("open");
  });

  function pager(node, page, pages, size) {
    node.textContent = "";
    var mk = function (text, target, disabled) {
      var b = el("button", null, text);
      b.type = "button";
      b.disabled = disabled;
      b.addEventListener("click", function () { state.p.page = String(target); writeHash(); render(); window.scrollTo(0, 0); });
      node.appendChild(b);
    };
    mk("\u00ab first", 1, page <= 1);
    mk("\u2039 previous", page - 1, page <= 1);
    node.appendChild(el("span", null, " page " + page + " of " + pages + " "));
    mk("next \u203a", page + 1, page >= pages);
    mk("last \u00bb", pages, page >= pages);
    var sel = doc.createElement("select");
    [50, 100, 250, 1000].forEach(function (n) {
      var o = doc.createElement("option");
      o.value = String(n);
      o.textContent = n + " per page";
      if (n === size) o.selected = true;
      sel.appendChild(o);
    });
    sel.addEventListener("change", function () { state.p.size = sel.value; delete state.p.page; writeHash(); render(); });
    node.appendChild(sel);
  }

  function renderTable(view) {
    var def = VIEWS[view], p = state.p;
    if (builtFor !== view) buildForm(view);
    def.filters.forEach(function (f) {
      var input = doc.getElementById("f-" + f.name);
      if (input && input !== typing) input.value = p[f.name] || "";
    });
    var chips = doc.getElementById("chips");
    chips.textContent = "";
    def.filters.forEach(function (f) {
      if (f.type !== "chip" || !p[f.name]) return;
      var chip = el("span", "chip", f.label + ": " + p[f.name] + " ");
      chip.setAttribute("data-filter", f.name);
      var x = link("#", "\u00d7");
      x.title = "remove this filter";
      x.addEventListener("click", function (e) { e.preventDefault(); delete state.p[f.name]; writeHash(); render(); });
      chip.appendChild(x);
      chips.appendChild(chip);
    });
    var sortKey = p.sort || def.sort;
    Array.prototype.forEach.call(grid.tHead.rows[0].cells, function (th) {
      if (th.getAttribute("data-key") === sortKey) th.setAttribute("aria-sort", p.dir === "desc" ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
    var idx = selected(view);
    var size = parseInt(p.size, 10) || 100;
    var pages = Math.max(1, Math.ceil(idx.length / size));
    var page = Math.min(Math.max(1, parseInt(p.page, 10) || 1), pages);
    var body = doc.createElement("tbody"), rows = def.rows;
    for (var k = (page - 1) * size; k < Math.min(idx.length, page * size); k++) {
      var r = rows[idx[k]], tr = body.insertRow();
      tr.setAttribute("data-row", String(idx[k]));
      def.cols.forEach(function (c) {
        var td = tr.insertCell();
        if (c.cls) td.className = c.cls;
        c.cell(td, r);
      });
    }
    if (!idx.length) {
      var td = body.insertRow().insertCell();
      td.colSpan = def.cols.length;
      td.className = "muted";
      td.textContent = rows.length ? "Nothing matches these filters." : "None found.";
    }
    grid.replaceChild(body, grid.tBodies[0]);
    var first = idx.length ? (page - 1) * size + 1 : 0;
    doc.getElementById("count").textContent = "Showing " + first + "\u2013" + Math.min(idx.length, page * size) +
      " of " + idx.length + " " + def.noun + (idx.length < rows.length ? " (filtered from " + rows.length + ")" : "");
    pager(doc.getElementById("pager"), page, pages, size);
    pager(doc.getElementById("pager2"), page, pages, size);
  }

  /* -- activity chart ---------------------------------------------------------------- */
  var STEPS = [0.1, 0.25, 0.5, 1, 5, 15, 60, 300, 900, 3600, 21600, 86400, 604800, 2592000].map(function (s) { return s * 1000; });
  function fmt(t, step) {
    var s = new Date(t).toISOString();
    return step >= 86400000 ? s.slice(0, 10) : step >= 60000 ? s.slice(0, 16).replace("T", " ") : s.slice(0, 19).replace("T", " ");
  }
  var chartDone = false;
  function renderChart() {
    if (chartDone) return;
    chartDone = true;
    var series = [
      { name: "Messages", cls: "s-m", times: M.map(function (r) { return ms(r.t); }) },
      { name: "Logins accepted", cls: "s-ok", times: C.filter(function (r) { return r.ok === true; }).map(function (r) { return ms(r.t); }) },
      { name: "Logins failed or unanswered", cls: "s-fail", times: C.filter(function (r) { return r.ok !== true; }).map(function (r) { return ms(r.t); }) },
      { name: "Sessions (start)", cls: "s-s", times: S.map(function (r) { return ms(r.st); }) }
    ];
    var lo = Infinity, hi = -Infinity, undated = 0;
    series.forEach(function (s) {
      s.times = s.times.filter(function (t) { if (isNaN(t)) { undated++; return false; } return true; });
      s.times.forEach(function (t) { if (t < lo) lo = t; if (t > hi) hi = t; });
    });
    var box = doc.getElementById("chart");
    if (lo === Infinity) { box.appendChild(el("p", "muted", "Nothing with a time to show.")); return; }
    var step = STEPS[STEPS.length - 1];
    for (var i = 0; i < STEPS.length; i++) if ((hi - lo) / STEPS[i] <= 150) { step = STEPS[i]; break; }
    var start = Math.floor(lo / step) * step, bins = Math.floor((hi - start) / step) + 1;
    var W0 = 1280, left = 200, right = 16, rowH = 92, top = 8, axis = 34;
    var plotW = W0 - left - right, bw = plotW / bins;
    var H = top + series.length * rowH + axis;
    var NS = "http://www.w3.org/2000/svg";
    function sv(name, attrs, parent) {
      var e = doc.createElementNS(NS, name);
      Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
      if (parent) parent.appendChild(e);
      return e;
    }
    var svg = sv("svg", { viewBox: "0 0 " + W0 + " " + H, role: "img", "aria-label": "activity over time" });
    series.forEach(function (s, n) {
      var counts = new Array(bins).fill(0);
      s.times.forEach(function (t) { counts[Math.floor((t - start) / step)]++; });
      var peak = Math.max.apply(null, counts.concat([1]));
      var y0 = top + n * rowH, h = rowH - 22;
      var g = sv("g", { "class": "series", "data-series": s.name }, svg);
      sv("line", { x1: left, x2: W0 - right, y1: y0 + h, y2: y0 + h, "class": "axis" }, g);
      sv("line", { x1: left, x2: W0 - right, y1: y0, y2: y0, "class": "gridline" }, g);
      sv("text", { x: 8, y: y0 + 16, "font-weight": "600" }, g).textContent = s.name;
      sv("text", { x: 8, y: y0 + 32 }, g).textContent = s.times.length + " in all";
      sv("text", { x: 8, y: y0 + 48 }, g).textContent = "peak " + Math.max.apply(null, counts) + " per bar";
      sv("text", { x: left - 6, y: y0 + 10, "text-anchor": "end" }, g).textContent = String(peak);
      sv("text", { x: left - 6, y: y0 + h, "text-anchor": "end" }, g).textContent = "0";
      counts.forEach(function (c, b) {
        if (!c) return;
        var bh = Math.max(1.5, h * c / peak);
        var rect = sv("rect", { x: (left + b * bw + (bw > 4 ? 0.5 : 0)).toFixed(2), y: (y0 + h - bh).toFixed(2),
          width: Math.max(1, bw - (bw > 4 ? 1 : 0)).toFixed(2), height: bh.toFixed(2), "class": "bar " + s.cls,
          "data-count": c, "data-start": new Date(start + b * step).toISOString() }, g);
        sv("title", {}, rect).textContent = s.name + ": " + c + " from " + fmt(start + b * step, 1000) + " UTC, for " + (step / 1000) + " s";
        rect.addEventListener("click", function () {
          location.hash = "#messages?" + q("from", new Date(start + b * step).toISOString()) + "&" + q("to", new Date(start + (b + 1) * step).toISOString());
        });
      });
    });
    var yAxis = top + series.length * rowH;
    var oneDay = hi - start < 86400000;
    var every = Math.max(1, Math.ceil(bins / Math.floor(plotW / 130)));
    for (var bin = 0; bin <= bins; bin += every) {
      var x = left + bin * bw, t = start + bin * step;
      sv("line", { x1: x, x2: x, y1: yAxis - 18, y2: yAxis - 12, "class": "axis" }, svg);
      var label = oneDay ? new Date(t).toISOString().slice(11, step < 1000 ? 22 : 19) : fmt(t, step);
      sv("text", { x: x, y: yAxis + 2, "text-anchor": bin === 0 ? "start" : x > W0 - right - 60 ? "end" : "middle" }, svg).textContent = label;
    }
    box.appendChild(svg);
    var unit = step >= 86400000 ? step / 86400000 + " day" : step >= 3600000 ? step / 3600000 + " h" : step >= 60000 ? step / 60000 + " min" : step / 1000 + " s";
    doc.getElementById("chart-note").textContent = "one bar per " + unit + ", " + fmt(start, 1000) + " to " + fmt(hi, 1000) + " UTC" +
      (undated ? "; " + undated + " items without a time are not drawn" : "");
  }

  /* -- views ------------------------------------------------------------------------- */
  function render() {
    Array.prototype.forEach.call(doc.querySelectorAll("#tabs a"), function (a) {
      a.classList.toggle("on", a.getAttribute("data-view") === state.view);
    });
    var activity = state.view === "activity";
    doc.getElementById("view-activity").hidden = !activity;
    main.hidden = activity;
    if (activity) renderChart(); else renderTable(state.view);
  }
  window.addEventListener("hashchange", function () { readHash(); render(); });
  readHash();
  render();
  var took = Math.round(performance.now());
  doc.body.setAttribute("data-rendered-ms", String(took));
  doc.getElementById("render-time").textContent = "Index drawn " + took + " ms after the page was opened.";
})();

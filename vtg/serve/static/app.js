// vtg serve page: search, ranked moments with thumbnails, a player that jumps to the moment, and the
// saliency curve. Every piece of text from the server is set with textContent or setAttribute,
// never parsed as HTML, so a hostile file name or query cannot inject markup.
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";
  // The curve is drawn in CSS pixels at its box's width (W is set per draw), so a phone gets
  // 11-px labels and fewer ticks instead of an 800-unit drawing shrunk to half size.
  var W = 800, H = 150, L = 44, R = 12, T = 10, B = 26;
  var NARROW = window.matchMedia ? window.matchMedia("(max-width: 800px)") : {matches: false};
  var $ = function (id) { return document.getElementById(id); };
  var player = $("player"), list = $("list"), status = $("status"), scope = $("scope");
  var current = null;  // {result, moment, button}
  var stopAt = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // Text with line-break opportunities after _ - . / (file names have no spaces): a narrow screen
  // breaks "kitchen_camera_2024.mp4" after an underscore, not in the middle of a word. Built
  // from text nodes and <wbr> elements, never parsed as HTML.
  function breakable(node, text) {
    node.replaceChildren();
    String(text).split(/(?<=[_\-.\/])/).forEach(function (part, i) {
      if (i) node.appendChild(document.createElement("wbr"));
      node.appendChild(document.createTextNode(part));
    });
    return node;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    return e;
  }
  function clock(t) {
    t = Math.max(0, t);
    var h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
    var ss = (s < 10 ? "0" : "") + s.toFixed(1);
    return h ? h + ":" + (m < 10 ? "0" : "") + m + ":" + ss : m + ":" + ss;
  }
  function say(text, isError) {
    status.textContent = text || "";
    status.className = isError ? "error" : "";
  }

  function api(path, body) {
    var init = body === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"},
                                           body: JSON.stringify(body)};
    init.credentials = "same-origin";
    return fetch(path, init).then(function (r) {
      return r.json().catch(function () { return {error: "HTTP " + r.status}; }).then(function (data) {
        if (!r.ok) throw new Error(r.status === 503 ? "server busy, try again in a moment" : (data.error || "HTTP " + r.status));
        return data;
      });
    });
  }

  function fillScope(health, videos) {
    (health.libraries || []).forEach(function (name) {
      var o = el("option", "", "Library: " + name.split("/").filter(Boolean).pop());
      o.value = "lib:" + name;
      scope.appendChild(o);
    });
    videos.forEach(function (v) {
      var o = el("option", "", "Video: " + v.name);
      o.value = "vid:" + v.id;
      scope.appendChild(o);
    });
    if (!scope.options.length) {
      var o = el("option", "", "nothing served");
      o.value = "";
      scope.appendChild(o);
    }
  }

  function search(ev) {
    ev.preventDefault();
    var query = $("query").value.trim();
    if (!query || !scope.value) return;
    var kind = scope.value.slice(0, 4), target = scope.value.slice(4);
    var call = kind === "lib:" ? api("/search", {query: query, library: target, top: 20})
                               : api("/ground", {video: target, query: query, top_k: 10});
    $("go").disabled = true;
    say("searching…");
    call.then(function (data) {
      var results = data.results || [data];
      show(results, kind === "lib:" ? 3 : 10);
      var n = list.querySelectorAll("button.result").length;
      say(n + " moment" + (n === 1 ? "" : "s") + " in " + results.length + " video" + (results.length === 1 ? "" : "s"));
    }).catch(function (err) { say(err.message, true); })
      .then(function () { $("go").disabled = false; });
  }

  function show(results, perVideo) {
    list.replaceChildren();
    $("hint").hidden = true;
    var first = null;
    results.forEach(function (g) {
      var moments = (g.pred_relevant_windows || []).slice(0, perVideo);
      if (!moments.length) return;
      var head = breakable(el("li", "video-head"), g.video);
      list.appendChild(head);
      var best = moments[0][2] || 1;
      moments.forEach(function (w, i) {
        var b = el("button", "result");
        b.type = "button";
        b.dataset.start = w[0];
        b.dataset.end = w[1];
        var img = el("img");
        img.loading = "lazy";
        img.alt = "frame at " + clock(w[0]);
        img.src = "/thumbs/" + encodeURIComponent(g.video_id) + "?t=" + w[0].toFixed(1);
        var info = el("span", "info");
        info.appendChild(el("span", "range", clock(w[0]) + " – " + clock(w[1])));
        info.appendChild(el("span", "score", "#" + (i + 1) + " · " + (w[1] - w[0]).toFixed(1) + " s · score " + w[2].toFixed(3)));
        var bar = el("span", "bar");
        bar.style.width = Math.max(4, 100 * Math.max(0, w[2]) / Math.max(best, 1e-9)) + "%";
        info.appendChild(bar);
        b.appendChild(img);
        b.appendChild(info);
        b.addEventListener("click", function () { play(g, w, b); });
        var li = el("li");
        li.appendChild(b);
        list.appendChild(li);
        if (!first) first = [g, w];
      });
    });
    if (!first) list.appendChild(el("li", "hint", "No moment found."));
  }

  function play(g, w, button) {
    if (current && current.button) current.button.classList.remove("active");
    button.classList.add("active");
    current = {result: g, moment: w, button: button};
    breakable($("now-title"), g.video + " — " + g.query);
    $("now-meta").textContent = "moment " + clock(w[0]) + " – " + clock(w[1]) + " · score " + w[2].toFixed(3) +
      " · method " + g.method + " · video " + clock(g.duration);
    drawCurve(g, w);
    var reveal = function () {  // one column: the player is below the list, bring it into view
      if (NARROW.matches) $("viewer").scrollIntoView({block: "start"});
    };
    reveal();
    var seek = function () {
      reveal();  // again once the video's size is known (the player's height may have changed)
      player.currentTime = w[0];
      stopAt = w[1];
      var p = player.play();
      if (p && p.catch) p.catch(function () {});
    };
    if (player.dataset.video !== g.video_id) {
      player.dataset.video = g.video_id;
      player.src = g.video_url;
      player.addEventListener("loadedmetadata", seek, {once: true});
    } else {
      seek();
    }
  }

  function drawCurve(g, chosen) {
    var box = $("curve");
    box.replaceChildren();
    W = Math.max(280, Math.round(box.clientWidth || 800));
    var d = g.duration || 1, times = g.saliency_times || [], scores = g.saliency_scores || [];
    var lo = Math.min.apply(null, scores.concat([0])), hi = Math.max.apply(null, scores.concat([lo + 1e-9]));
    if (hi <= lo) hi = lo + 1;
    var x = function (t) { return L + (W - L - R) * Math.min(Math.max(t / d, 0), 1); };
    var y = function (s) { return T + (H - T - B) * (1 - (s - lo) / (hi - lo)); };
    var root = svg("svg", {viewBox: "0 0 " + W + " " + H, role: "img"});
    root.appendChild(svg("title")).textContent = "saliency of the query over the video";
    // the chosen moment as a band; the video's other moments as marks under the curve
    (g.pred_relevant_windows || []).forEach(function (w) {
      var chosenOne = w === chosen;
      root.appendChild(svg("rect", {x: x(w[0]), y: chosenOne ? T : H - B - 5, width: Math.max(1, x(w[1]) - x(w[0])),
                                    height: chosenOne ? H - T - B : 5, "class": chosenOne ? "band chosen" : "band"}));
    });
    if (times.length) {
      root.appendChild(svg("polyline", {"class": "line", points: times.map(function (t, i) {
        return x(t).toFixed(1) + "," + y(scores[i]).toFixed(1); }).join(" ")}));
    }
    root.appendChild(svg("line", {"class": "axis", x1: L, y1: H - B, x2: W - R, y2: H - B}));
    [[hi, T + 4], [lo, H - B]].forEach(function (v) {  // the score scale: its top and bottom values
      var yl = svg("text", {"class": "label ylabel", x: L - 5, y: v[1]});
      yl.textContent = v[0].toFixed(2);
      root.appendChild(yl);
    });
    root.appendChild(svg("line", {"class": "axis", x1: L, y1: T, x2: L, y2: H - B}));
    var most = Math.max(3, Math.floor((W - L - R) / 60));  // ticks at least 60 px apart
    var step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].find(function (s) { return d / s <= most; }) || 7200;
    for (var t = 0; t <= d + 1e-9; t += step) {
      root.appendChild(svg("line", {"class": "tick", x1: x(t), y1: H - B, x2: x(t), y2: H - B + 4}));
      var label = svg("text", {"class": "label", x: x(t), y: H - B + 16, "text-anchor": "middle"});
      label.textContent = d >= 120 ? clock(t).replace(/\.0$/, "") : t + "s";
      root.appendChild(label);
    }
    var head = svg("line", {"class": "playhead", x1: x(player.currentTime || 0), y1: T, x2: x(player.currentTime || 0), y2: H - B});
    root.appendChild(head);
    root.addEventListener("click", function (ev) {
      var r = root.getBoundingClientRect();
      var px = (ev.clientX - r.left) * W / r.width;
      player.currentTime = Math.min(Math.max((px - L) / (W - L - R) * d, 0), d);
      stopAt = null;
    });
    box.appendChild(root);
  }

  player.addEventListener("seeked", function () { player.dataset.seekedAt = String(player.currentTime); });
  player.addEventListener("timeupdate", function () {
    if (stopAt !== null && player.currentTime >= stopAt) { player.pause(); stopAt = null; }
    var head = document.querySelector("#curve .playhead");
    if (head && current) {
      var d = current.result.duration || 1;
      var xx = L + (W - L - R) * Math.min(player.currentTime / d, 1);
      head.setAttribute("x1", xx);
      head.setAttribute("x2", xx);
    }
  });

  var resized = null;
  window.addEventListener("resize", function () {  // keep the curve at the box's pixel width
    clearTimeout(resized);
    resized = setTimeout(function () { if (current) drawCurve(current.result, current.moment); }, 150);
  });

  $("search-form").addEventListener("submit", search);
  Promise.all([api("/health"), api("/videos")]).then(function (both) {
    fillScope(both[0], both[1].videos || []);
    say("ready · method " + both[0].method);
  }).catch(function (err) { say(err.message, true); });
})();

"""The playground page: one self-contained HTML document, inline CSS and JS, no external URLs.

What it does, in order: asks for the microphone; makes an ``RTCPeerConnection`` with the
transceivers Pipecat's SmallWebRTC expects (audio, camera, screen: the two video ones stay
inactive) and a data channel; waits briefly for its ICE candidates; posts the offer to
``/api/offer``; applies the answer; sends any later candidates with ``PATCH /api/offer``.
The bot's audio plays through an ``<audio>`` element and is measured by a WebAudio
analyser. ``window.voicebot`` exposes the state for tests and the console:

    state, pcState, iceState, pcId, error          connection
    connectSecs, firstBotAudioSecs                 seconds from pressing Connect
    botAudioSeconds, botLevel, micLevel            what the bot has said, levels (0..1)
    turns                                          the session's completed turns
    connect(), hangUp()

The page is rendered (``render_page``) with the STUN servers ``voicebot serve`` was given
(``--ice-server``) embedded as JSON, so the browser gathers the same server-reflexive
candidates the bot does; with none it has ``iceServers: []`` and asks nothing of the internet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

#: Where ``render_page`` puts the page's ``iceServers`` (JSON) in ``TEMPLATE``.
ICE_SERVERS_SLOT = "/*ICE_SERVERS*/[]"

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>voicebot playground</title>
<link rel="icon" href="data:,">
<style>
  :root { color-scheme: light dark; --accent: #2f6fdf; --ok: #2e9d5b; --bad: #c0392b;
          --muted: #888; --bg2: rgba(127,127,127,.12); }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
  main { max-width: 46rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  .sub { color: var(--muted); margin: 0 0 1.2rem; }
  .row { display: flex; gap: .8rem; align-items: center; flex-wrap: wrap; }
  button { font: inherit; padding: .55rem 1.3rem; border-radius: .5rem; border: 0;
           background: var(--accent); color: white; cursor: pointer; min-width: 8rem; }
  button.hang { background: var(--bad); }
  button:disabled { opacity: .5; cursor: default; }
  .state { font-weight: 600; }
  .state::before { content: ""; display: inline-block; width: .7rem; height: .7rem;
                   border-radius: 50%; margin-right: .4rem; background: var(--muted); }
  .state.connected::before { background: var(--ok); }
  .state.failed::before, .state.ended::before { background: var(--bad); }
  .state.connecting::before { background: #e0a526; }
  .meters { margin: 1.2rem 0; display: grid; grid-template-columns: 5.5rem 1fr; gap: .5rem .8rem;
            align-items: center; }
  .meter { height: .9rem; background: var(--bg2); border-radius: .45rem; overflow: hidden; }
  .meter > div { height: 100%; width: 0; background: var(--ok); transition: width 60ms linear; }
  #mic-meter > div { background: var(--accent); }
  dl.stats { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem;
             margin: 0 0 1.2rem; color: var(--muted); }
  dl.stats dd { margin: 0; color: inherit; font-variant-numeric: tabular-nums; }
  #error { color: var(--bad); white-space: pre-wrap; }
  ol#turns { list-style: none; padding: 0; margin: 0; }
  #turns li { padding: .5rem .7rem; margin: .4rem 0; border-radius: .5rem; background: var(--bg2); }
  #turns .who { font-weight: 600; margin-right: .3rem; }
  #turns .lat { color: var(--muted); font-size: .85em; float: right; }
</style>
</head>
<body>
<main>
  <h1>voicebot playground</h1>
  <p class="sub" id="bot">Talk to the bot from your browser. Use headphones to avoid echo.</p>
  <div class="row">
    <button id="connect" type="button">Connect</button>
    <span id="state" class="state">idle</span>
  </div>
  <div class="meters">
    <span>bot</span><div class="meter" id="bot-meter"><div></div></div>
    <span>microphone</span><div class="meter" id="mic-meter"><div></div></div>
  </div>
  <dl class="stats">
    <dt>connected after</dt><dd id="connect-secs">–</dd>
    <dt>first bot audio</dt><dd id="first-audio-secs">–</dd>
    <dt>bot audio heard</dt><dd id="bot-secs">0.0 s</dd>
  </dl>
  <p id="error"></p>
  <ol id="turns"></ol>
  <audio id="bot-audio" autoplay></audio>
</main>
<script>
(() => {
  "use strict";
  // A server off loopback needs its token: open the page as /?token=... and every API
  // request carries it as a bearer token.
  const TOKEN = new URLSearchParams(location.search).get("token");
  const api = (url, options = {}) => fetch(url, !TOKEN ? options : {
    ...options, headers: { ...(options.headers || {}), Authorization: "Bearer " + TOKEN },
  });
  const $ = (id) => document.getElementById(id);
  const SPEECH_RMS = 0.01;      // above this the bot's audio counts as sound
  const GATHER_WAIT_MS = 2000;  // how long to wait for ICE candidates before offering
  const ICE_SERVERS = /*ICE_SERVERS*/[];  // the server's STUN servers (render_page)

  const vb = window.voicebot = {
    state: "idle", pcState: null, iceState: null, pcId: null, error: null,
    connectSecs: null, firstBotAudioSecs: null,
    botAudioSeconds: 0, botLevel: 0, micLevel: 0, turns: [], timings: {},
    connect: () => connect(), hangUp: () => leave(),
  };

  let pc = null, dc = null, mic = null, ctx = null, timers = [], t0 = 0;
  let pendingCandidates = [], offerSent = false, botLeft = null, greetingText = "";
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function setState(state, text) {
    vb.state = state;
    const el = $("state");
    el.textContent = text || state;
    el.className = "state " + state;
    const button = $("connect");
    const busy = state === "connecting" || state === "connected";
    button.textContent = busy ? "Hang up" : "Connect";
    button.className = busy ? "hang" : "";
  }

  function fail(message) {
    vb.error = String(message);
    $("error").textContent = vb.error;
    hangUp("failed", "failed");
  }

  const secs = () => (performance.now() - t0) / 1000;
  const mark = (what) => { vb.timings[what] = Number(secs().toFixed(3)); };

  async function connect() {
    if (pc) return;
    vb.error = null; $("error").textContent = "";
    vb.connectSecs = vb.firstBotAudioSecs = vb.pcId = null;
    vb.botAudioSeconds = 0; vb.turns = []; vb.timings = {}; renderTurns();
    $("connect-secs").textContent = $("first-audio-secs").textContent = "–";
    t0 = performance.now();
    setState("connecting", "asking for the microphone…");
    try {
      mic = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        video: false,
      });
    } catch (e) {
      return fail("No microphone: " + e.message);
    }
    mark("microphone");
    ctx = new AudioContext();
    ctx.resume().catch(() => {});
    const micAnalyser = analyser(ctx.createMediaStreamSource(mic));

    setState("connecting", "connecting…");
    pc = new RTCPeerConnection({ iceServers: ICE_SERVERS });
    // Pipecat's SmallWebRTC reads transceivers by position: audio, camera, screen.
    pc.addTransceiver(mic.getAudioTracks()[0], { direction: "sendrecv", streams: [mic] });
    pc.addTransceiver("video", { direction: "inactive" });
    pc.addTransceiver("video", { direction: "inactive" });
    dc = pc.createDataChannel("chat", { ordered: true });
    dc.onmessage = (e) => onMessage(e.data);

    pc.ontrack = (e) => {
      if (e.track.kind !== "audio") return;
      const stream = e.streams[0] || new MediaStream([e.track]);
      const audio = $("bot-audio");
      audio.srcObject = stream;  // Chrome only feeds WebAudio from a played remote stream
      audio.play().catch((err) => console.warn("autoplay:", err));
      const botAnalyser = analyser(ctx.createMediaStreamSource(stream));
      watchLevels(botAnalyser, micAnalyser);
    };
    pc.onconnectionstatechange = () => {
      if (!pc || botLeft) return;
      vb.pcState = pc.connectionState;
      if (pc.connectionState === "connected") {
        vb.connectSecs = secs();
        $("connect-secs").textContent = vb.connectSecs.toFixed(2) + " s";
        setState("connected", "connected");
        poll();
      } else if (pc.connectionState === "failed") {
        fail(vb.connectSecs === null
          ? "Could not connect: ICE found no path between this browser and the bot."
          : "The connection to the bot was lost.");
      } else if (pc.connectionState === "disconnected") {
        setState("connected", "connection interrupted…");
      } else if (pc.connectionState === "closed") {
        hangUp("ended", "the bot hung up");
      }
    };
    pc.oniceconnectionstatechange = () => { if (pc) vb.iceState = pc.iceConnectionState; };
    pc.onicecandidate = (e) => {
      if (!e.candidate || !e.candidate.candidate || !offerSent) return;
      pendingCandidates.push({
        candidate: e.candidate.candidate, sdp_mid: e.candidate.sdpMid,
        sdp_mline_index: e.candidate.sdpMLineIndex,
      });
      flushCandidates();
    };

    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, GATHER_WAIT_MS);
      if (!pc) return;
      mark("offer");
      offerSent = true;
      const response = await api("api/offer", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
      });
      if (!response.ok) throw new Error("offer refused: " + (await detail(response)));
      const answer = await response.json();
      if (!pc) return;
      mark("answer");
      vb.pcId = answer.pc_id;
      await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
      flushCandidates();
    } catch (e) {
      fail(e.message || e);
    }
  }

  function gathered(peer, ms) {
    if (peer.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); resolve(); };
      const timer = setTimeout(done, ms);
      peer.addEventListener("icegatheringstatechange", () => {
        if (peer.iceGatheringState === "complete") done();
      });
    });
  }

  async function flushCandidates() {
    if (!vb.pcId || !pendingCandidates.length) return;
    const candidates = pendingCandidates; pendingCandidates = [];
    try {
      await api("api/offer", {
        method: "PATCH", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ pc_id: vb.pcId, candidates }),
      });
    } catch (e) { console.warn("candidates:", e); }
  }

  async function detail(response) {
    try { const body = await response.json(); return body.detail || response.statusText; }
    catch (e) { return response.status + " " + response.statusText; }
  }

  function onMessage(data) {
    let message;
    try { message = JSON.parse(data); } catch (e) { return; }
    if (message.type === "signalling" && message.message && message.message.type === "peerLeft") {
      if (botLeft) botLeft();  // we asked for it (leave)
      else hangUp("ended", "the bot hung up");
    }
  }

  function analyser(source) {
    const node = ctx.createAnalyser();
    node.fftSize = 2048;
    source.connect(node);  // measured only: playback is the <audio> element
    return node;
  }

  function rms(node, buffer) {
    node.getFloatTimeDomainData(buffer);
    let sum = 0;
    for (let i = 0; i < buffer.length; i++) sum += buffer[i] * buffer[i];
    return Math.sqrt(sum / buffer.length);
  }

  function watchLevels(bot, micNode) {
    const buffer = new Float32Array(bot.fftSize);
    let last = performance.now();
    timers.push(setInterval(() => {
      const now = performance.now(), dt = (now - last) / 1000;
      last = now;
      const level = rms(bot, buffer);
      vb.botLevel = level;
      vb.micLevel = rms(micNode, buffer);
      if (level > SPEECH_RMS) {
        vb.botAudioSeconds += Math.min(dt, 0.25);
        if (vb.firstBotAudioSecs === null) {
          vb.firstBotAudioSecs = secs();
          $("first-audio-secs").textContent = vb.firstBotAudioSecs.toFixed(2) + " s";
        }
      }
      meter("bot-meter", level);
      meter("mic-meter", vb.micLevel);
      $("bot-secs").textContent = vb.botAudioSeconds.toFixed(1) + " s";
    }, 50));
  }

  function meter(id, level) {
    const db = 20 * Math.log10(Math.max(level, 1e-5));  // -100..0 dB → 0..100 %
    const pct = Math.max(0, Math.min(100, (db + 60) * (100 / 60)));
    $(id).firstElementChild.style.width = pct.toFixed(0) + "%";
  }

  function poll() {
    const tick = async () => {
      if (!vb.pcId) return;
      try {
        const response = await api(endpoint());
        if (!response.ok) return;
        const view = await response.json();
        vb.turns = view.turns;
        renderTurns();
      } catch (e) { /* the server may be gone; the connection state says so */ }
    };
    timers.push(setInterval(tick, 1000));
    tick();
  }

  function renderTurns() {
    const list = $("turns");
    list.replaceChildren();
    for (const turn of vb.turns) {
      // A reply cut off early may come with no text, though it was heard; the greeting is
      // the bot's first turn with no user words.
      const greeting = turn.index === 0 && !turn.user ? greetingText : "";
      const heard = turn.voice_to_voice_secs != null ? "(cut off)" : "";
      const spoke = turn.bot || greeting || heard;
      for (const [who, text] of [["you", turn.user], ["bot", spoke]]) {
        if (!text) continue;
        const item = document.createElement("li");
        const name = document.createElement("span");
        name.className = "who"; name.textContent = who + ":";
        const cut = who === "bot" && text !== heard && turn.interrupted ? " …" : "";
        item.append(name, document.createTextNode(text + cut));
        if (who === "bot" && turn.voice_to_voice_secs != null) {
          const lat = document.createElement("span");
          lat.className = "lat"; lat.textContent = turn.voice_to_voice_secs.toFixed(2) + " s";
          lat.title = "voice to voice, measured in the bot";
          item.prepend(lat);  // a float goes first, to sit on the first line
        }
        list.append(item);
      }
    }
  }

  // Hang up: the server ends the session first (the bot stops listening and closes its
  // side), then this side closes; a page being closed cannot wait, so it only tells.
  async function leave() {
    if (!pc) return;
    if (vb.pcId) {
      setState("connecting", "hanging up…");
      const left = new Promise((resolve) => { botLeft = resolve; });
      const asked = api(endpoint(), { method: "DELETE" }).catch(() => {});
      await Promise.race([asked.then(() => left), sleep(2000)]);
      botLeft = null;
    }
    hangUp("idle", "hung up", false);
  }

  const endpoint = () => "api/sessions/" + encodeURIComponent(vb.pcId);

  function hangUp(state, text, tellServer = true) {
    if (tellServer && vb.pcId && pc && state !== "ended") {
      api(endpoint(), { method: "DELETE", keepalive: true }).catch(() => {});
    }
    timers.forEach(clearInterval); timers = [];
    if (dc) { try { dc.close(); } catch (e) {} dc = null; }
    if (pc) { pc.close(); pc = null; }
    if (mic) { mic.getTracks().forEach((t) => t.stop()); mic = null; }
    if (ctx) { ctx.close().catch(() => {}); ctx = null; }
    $("bot-audio").srcObject = null;
    pendingCandidates = []; offerSent = false;
    vb.botLevel = vb.micLevel = 0;
    meter("bot-meter", 0); meter("mic-meter", 0);
    setState(state, text);
  }

  $("connect").addEventListener("click", () => (pc ? leave() : connect()));
  window.addEventListener("pagehide", () => { if (pc) hangUp("idle"); });
  api("api/status").then((r) => r.json()).then((s) => {
    $("bot").textContent = "Bot: " + s.bot + ". Use headphones to avoid echo.";
    greetingText = s.greeting || "";
  }).catch(() => {});
})();
</script>
</body>
</html>
"""


def browser_ice_servers(urls: Sequence[str]) -> list[dict[str, str]]:
    """The page's ``iceServers`` for the server's ICE ``urls``: the STUN ones. A browser
    refuses a ``turn:``/``turns:`` URL without a username and credential (the
    ``RTCPeerConnection`` constructor throws InvalidAccessError, so the page could not call
    at all), and ``--ice-server`` gives none."""
    return [{"urls": url} for url in urls if url.split(":", 1)[0].lower() == "stun"]


def render_page(ice_servers: Sequence[str] = ()) -> str:
    """The page, its peer connection made with ``ice_servers``' STUN URLs. The JSON is
    escaped for a ``<script>``: no ``<``, ``>`` or ``&`` (so no ``</script>`` or ``<!--``),
    and no non-ASCII character (U+2028 and U+2029 end a line in older JavaScript)."""
    data = json.dumps(browser_ice_servers(ice_servers), ensure_ascii=True)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return TEMPLATE.replace(ICE_SERVERS_SLOT, data)


#: The page with no ICE servers (loopback and LAN need none).
PAGE = render_page()

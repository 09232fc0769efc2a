// A two-person video call: WebRTC with the "perfect negotiation" pattern, signalling by polling Hearth.
// Markup: <section data-room data-join-url|data-knock-url ...> with the elements looked up below.
(() => {
  const root = document.querySelector("[data-room]");
  if (!root) return;

  const $ = (selector) => root.querySelector(selector);
  const localVideo = $("#local-video");
  const remoteVideo = $("#remote-video");
  const callState = $("#call-state");
  const remoteState = $("#remote-state");
  const message = $("#room-message");
  const beforeJoin = $("#before-join");
  const controls = $("#call-controls");
  const storageKey = `hearth-room:${root.dataset.roomKey}`;
  const texts = {
    waitingJoin: root.dataset.waitingText,
    waitingLobby: root.dataset.lobbyText,
    declined: root.dataset.declinedText,
  };

  let localStream = null;
  let visit = null; // {peer, me, polite, iceServers, poll, signal, leave}
  let pc = null;
  let otherId = null;
  let makingOffer = false;
  let ignoreOffer = false;
  let lastMessage = 0;
  let seq = 0;
  let sending = Promise.resolve();
  let polling = null;
  let stopped = false;

  const say = (text) => { callState.textContent = text; };
  const warn = (text) => { message.textContent = text; };

  async function preview() {
    try {
      localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      localVideo.srcObject = localStream;
    } catch (error) {
      warn(`Hearth could not use your camera or microphone (${error.name}). You can still join and see and hear the other person.`);
    }
  }

  function headers() {
    const h = { "Content-Type": "application/json" };
    if (root.dataset.csrf) h["X-CSRFToken"] = root.dataset.csrf;
    return h;
  }

  async function post(url, body) {
    const response = await fetch(url, { method: "POST", headers: headers(), body: JSON.stringify(body || {}), credentials: "same-origin" });
    const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(data.error || `The server answered ${response.status}.`), { status: response.status });
    return data;
  }

  // Messages go out one at a time, numbered, so the server can refuse replays and reordering.
  function send(kind, data) {
    sending = sending.then(() => post(visit.signal, { kind, data, seq: ++seq })).catch(() => {});
    return sending;
  }

  function closePeer() {
    if (pc) { pc.close(); pc = null; }
    remoteVideo.srcObject = null;
    remoteState.textContent = "";
    makingOffer = ignoreOffer = false;
  }

  function openPeer() {
    closePeer();
    pc = new RTCPeerConnection({ iceServers: visit.iceServers });
    if (localStream) for (const track of localStream.getTracks()) pc.addTrack(track, localStream);
    else { pc.addTransceiver("audio", { direction: "recvonly" }); pc.addTransceiver("video", { direction: "recvonly" }); }
    pc.ontrack = ({ streams }) => { if (remoteVideo.srcObject !== streams[0]) remoteVideo.srcObject = streams[0]; };
    pc.onicecandidate = ({ candidate }) => { if (candidate) send("candidate", candidate.toJSON()); };
    pc.onnegotiationneeded = async () => {
      try {
        makingOffer = true;
        await pc.setLocalDescription();
        send("description", pc.localDescription.toJSON());
      } finally {
        makingOffer = false;
      }
    };
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      root.dataset.connectionState = state;
      if (state === "connected") say("Connected");
      else if (state === "disconnected") say("Reconnecting…");
      else if (state === "failed") { say("Reconnecting…"); pc.restartIce(); }
      else if (state === "new" || state === "connecting") say("Connecting…");
    };
    say("Connecting…");
    sendState();
  }

  async function handle(msg) {
    if (!pc || msg.from !== otherId) return;
    if (msg.kind === "description") {
      const description = msg.data;
      const collision = description.type === "offer" && (makingOffer || pc.signalingState !== "stable");
      ignoreOffer = !visit.polite && collision;
      if (ignoreOffer) return;
      await pc.setRemoteDescription(description);
      if (description.type === "offer") {
        await pc.setLocalDescription();
        send("description", pc.localDescription.toJSON());
      }
    } else if (msg.kind === "candidate") {
      try { await pc.addIceCandidate(msg.data); } catch (error) { if (!ignoreOffer) throw error; }
    } else if (msg.kind === "state") {
      const parts = [];
      if (msg.data.audio === false) parts.push("microphone is off");
      if (msg.data.video === false) parts.push("camera is off");
      remoteState.textContent = parts.length ? `${root.dataset.otherName}’s ${parts.join(" and ")}.` : "";
      root.dataset.remoteAudio = msg.data.audio === false ? "off" : "on";
    }
  }

  async function pollOnce() {
    let answer;
    try {
      const response = await fetch(`${visit.poll}?after=${lastMessage}`, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 404) return end("This visit has ended. Reload the page to join again.");
      answer = await response.json();
    } catch (error) {
      say("Reconnecting…");
      return;
    }
    if (answer.status === "waiting") { say(texts.waitingLobby); return; }
    if (answer.status === "declined") return end(texts.declined);
    if (answer.status !== "in_room") return end("You have left the room.");
    showCall();
    const other = answer.other;
    if (!other) {
      if (pc) closePeer();
      otherId = null;
      say(texts.waitingJoin);
      return;
    }
    if (other.id !== otherId) {
      otherId = other.id;
      openPeer();
    }
    for (const msg of answer.messages) {
      lastMessage = Math.max(lastMessage, msg.id);
      try { await handle(msg); } catch (error) { console.warn("Signalling message failed", error); }
    }
  }

  async function loop() {
    while (!stopped) {
      await pollOnce();
      await new Promise((resolve) => { polling = setTimeout(resolve, 1000); });
    }
  }

  function showCall() {
    beforeJoin.hidden = true;
    controls.hidden = false;
  }

  function end(text) {
    stopped = true;
    clearTimeout(polling);
    closePeer();
    controls.hidden = true;
    sessionStorage.removeItem(storageKey);
    say(text);
  }

  async function join(body) {
    warn("");
    await previewReady; // join with the camera and microphone, not before they are ready
    const url = root.dataset.knockUrl || root.dataset.joinUrl;
    try {
      visit = await post(url, body);
    } catch (error) {
      warn(error.message);
      return;
    }
    if (!root.dataset.knockUrl) sessionStorage.setItem(storageKey, visit.peer);
    stopped = false;
    say(root.dataset.knockUrl ? texts.waitingLobby : texts.waitingJoin);
    loop();
  }

  function sendState() {
    if (!visit || !localStream) return;
    const audio = localStream.getAudioTracks()[0];
    const video = localStream.getVideoTracks()[0];
    send("state", { audio: audio ? audio.enabled : false, video: video ? video.enabled : false });
  }

  function toggle(kind, button, offLabel, onLabel) {
    const track = localStream && (kind === "audio" ? localStream.getAudioTracks()[0] : localStream.getVideoTracks()[0]);
    if (!track) return;
    track.enabled = !track.enabled;
    button.textContent = track.enabled ? offLabel : onLabel;
    button.setAttribute("aria-pressed", String(!track.enabled));
    if (otherId !== null) sendState();
  }

  root.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "join") { button.disabled = true; join({ previous: sessionStorage.getItem(storageKey) }).finally(() => { button.disabled = false; }); }
    else if (action === "knock") {
      const name = $("#visitor-name").value.trim();
      if (!name) { warn("Enter your name so your therapist knows who is waiting."); $("#visitor-name").focus(); return; }
      join({ name });
    } else if (action === "mute") toggle("audio", button, "Mute", "Unmute");
    else if (action === "camera") toggle("video", button, "Camera off", "Camera on");
    else if (action === "leave") {
      if (visit) navigator.sendBeacon(visit.leave);
      for (const track of localStream ? localStream.getTracks() : []) track.stop();
      end("You left the session.");
    }
  });

  window.addEventListener("pagehide", () => { if (visit && !stopped) navigator.sendBeacon(visit.leave); });

  // A reload rejoins the same room, in place of the visit this tab had.
  // Admitting a visitor brings the therapist straight into the call (data-autojoin).
  const rejoin = !root.dataset.knockUrl && sessionStorage.getItem(storageKey);
  const previewReady = preview();
  if (rejoin || "autojoin" in root.dataset) join({ previous: rejoin || null });
})();

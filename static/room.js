// A two-person video call: WebRTC with the "perfect negotiation" pattern, signalling by polling Hearth.
// Markup: <section data-room data-join-url|data-knock-url ...> with the elements looked up below.
// Nothing about the login ends a call: a signed-out therapist keeps the call and is asked to sign in again.
(() => {
  const root = document.querySelector("[data-room]");
  if (!root) return;

  const $ = (selector) => root.querySelector(selector);
  const localVideo = $("#local-video");
  const remoteVideo = $("#remote-video");
  const remoteLabel = $("#remote-label");
  const callState = $("#call-state");
  const remoteState = $("#remote-state");
  const message = $("#room-message");
  const beforeJoin = $("#before-join");
  const afterLeave = $("#after-leave");
  const controls = $("#call-controls");
  const cameraHelp = $("#camera-help");
  const elapsed = $("#elapsed");
  const leaveDialog = $("#leave-dialog");
  const removeDialog = $("#remove-dialog");
  const removeButton = $("[data-action=remove]");
  const shareButton = $("[data-action=share]");
  const storageKey = `hearth-room:${root.dataset.roomKey}`;
  const therapist = "therapist" in root.dataset;
  const personal = root.dataset.roomKey === "personal";
  const texts = {
    waitingJoin: root.dataset.waitingText,
    waitingLobby: root.dataset.lobbyText,
    declined: root.dataset.declinedText,
  };
  const WATCHDOG_MS = 15000;

  let localStream = null;
  let screenTrack = null;
  let visit = null; // {peer, me, polite, iceServers, poll, signal, leave}
  let pc = null;
  let other = null; // {id, name, role, remove?}
  let lastOtherName = null;
  let makingOffer = false;
  let ignoreOffer = false;
  let lastMessage = 0;
  let seq = 0;
  let sending = Promise.resolve();
  let polling = null;
  let watchdog = null;
  let clock = null;
  let connectedAt = null;
  let stopped = true;
  let leaving = false;
  let visitorName = "";

  const say = (text) => { callState.textContent = text; };
  const warn = (text) => { message.replaceChildren(text); };
  const wait = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });
  const inCall = () => visit !== null && !stopped;

  // Camera and microphone

  const REASONS = {
    NotAllowedError: "Your browser has blocked them for this page.",
    SecurityError: "Your browser has blocked them for this page.",
    NotFoundError: "No camera or microphone was found on this device.",
    NotReadableError: "Another app or tab is using them. Close it, then try again.",
    OverconstrainedError: "The chosen camera or microphone is not available.",
  };

  function chosen(kind) {
    const select = root.querySelector(`select[data-device=${kind}]`);
    return select && select.value ? { deviceId: { exact: select.value } } : true;
  }

  async function preview() {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: chosen("audioinput"), video: chosen("videoinput") });
      if (localStream) for (const track of localStream.getTracks()) track.stop();
      localStream = stream;
      localVideo.srcObject = stream;
      for (const [action, label] of [["mute", "Mute"], ["camera", "Camera off"]]) { // new tracks start on
        const button = $(`[data-action=${action}]`);
        button.textContent = label;
        button.setAttribute("aria-pressed", "false");
      }
      cameraHelp.hidden = true;
      await listDevices();
      if (pc) await useTracks();
      return true;
    } catch (error) {
      $("#camera-help-reason").textContent = REASONS[error.name] || "Your browser did not allow them.";
      cameraHelp.hidden = false;
      return false;
    }
  }

  async function listDevices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    for (const select of root.querySelectorAll("select[data-device]")) {
      const current = localStream && localStream.getTracks().find((t) => `${t.kind}input` === select.dataset.device);
      const currentId = current ? current.getSettings().deviceId : "";
      select.replaceChildren(...devices.filter((d) => d.kind === select.dataset.device).map((d, i) => {
        const option = new Option(d.label || `${select.dataset.device === "videoinput" ? "Camera" : "Microphone"} ${i + 1}`, d.deviceId);
        option.selected = d.deviceId === currentId;
        return option;
      }));
    }
  }

  // Put the current camera and microphone into the call: replace what is sent, or add what was missing.
  async function useTracks() {
    if (!pc || !localStream) return;
    for (const track of localStream.getTracks()) {
      const outgoing = track.kind === "video" && screenTrack ? screenTrack : track;
      const transceiver = pc.getTransceivers().find((t) => t.receiver.track.kind === track.kind);
      if (transceiver) {
        await transceiver.sender.replaceTrack(outgoing);
        if (transceiver.direction === "recvonly") transceiver.direction = "sendrecv";
        transceiver.sender.setStreams(localStream);
      } else pc.addTrack(outgoing, localStream);
    }
    sendState();
  }

  // Talking to Hearth: retry network errors and 5xx; a 401 never ends the call.

  function headers() {
    const h = { "Content-Type": "application/json" };
    if (root.dataset.csrf) h["X-CSRFToken"] = root.dataset.csrf;
    return h;
  }

  async function request(url, options = {}, tries = 4) {
    for (let attempt = 1; ; attempt += 1) {
      let response;
      try {
        response = await fetch(url, { credentials: "same-origin", cache: "no-store", ...options });
      } catch (error) {
        if (attempt >= tries) throw Object.assign(new Error("Hearth cannot be reached."), { status: 0 });
        await wait(300 * 2 ** attempt);
        continue;
      }
      if (response.status >= 500 && attempt < tries) { await wait(300 * 2 ** attempt); continue; }
      const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
      if (response.status === 401) signedOut();
      if (!response.ok) throw Object.assign(new Error(data.error || `The server answered ${response.status}.`), { status: response.status });
      return data;
    }
  }

  const post = (url, body, tries) => request(url, { method: "POST", headers: headers(), body: JSON.stringify(body || {}) }, tries);

  function signedOut() {
    if (message.querySelector("a")) return;
    const link = document.createElement("a");
    link.href = root.dataset.loginUrl || "/login";
    link.target = "_blank";
    link.textContent = "Sign in again to keep using Hearth";
    message.replaceChildren(link, " (in a new tab). Your call goes on.");
  }

  // Messages go out one at a time, numbered, so the server can refuse replays and reordering. A retry keeps
  // its number: "already received" means an earlier try got through.
  function send(kind, data) {
    const number = ++seq;
    sending = sending.then(() => post(visit.signal, { kind, data, seq: number }, 5).catch((error) => {
      if (error.status === 409 && /already received/.test(error.message)) return;
      console.warn("A signalling message was lost", error);
      armWatchdog(1000); // a lost offer or answer: restart negotiation soon rather than wait for ever
    }));
    return sending;
  }

  // The connection

  function closePeer() {
    if (pc) { pc.close(); pc = null; }
    clearTimeout(watchdog);
    remoteVideo.srcObject = null;
    remoteState.textContent = "";
    remoteLabel.hidden = true;
    makingOffer = ignoreOffer = false;
  }

  function openPeer() {
    closePeer();
    const peer = new RTCPeerConnection({ iceServers: visit.iceServers || [] });
    pc = peer;
    // Every handler acts on its own connection: a late event from a replaced one is ignored.
    const mine = (handler) => (event) => { if (peer === pc) return handler(event); return undefined; };
    if (localStream) {
      for (const track of localStream.getTracks()) peer.addTrack(track.kind === "video" && screenTrack ? screenTrack : track, localStream);
    } else {
      peer.addTransceiver("audio", { direction: "recvonly" });
      peer.addTransceiver("video", { direction: "recvonly" });
    }
    peer.ontrack = mine(({ track, streams }) => {
      const stream = streams[0] || new MediaStream([track]);
      if (remoteVideo.srcObject !== stream) remoteVideo.srcObject = stream;
    });
    peer.onicecandidate = mine(({ candidate }) => { if (candidate) send("candidate", candidate.toJSON()); });
    peer.onnegotiationneeded = mine(async () => {
      try {
        makingOffer = true;
        await peer.setLocalDescription();
        if (peer === pc) send("description", peer.localDescription.toJSON());
      } catch (error) {
        console.warn("Negotiation failed", error);
        armWatchdog(2000);
      } finally {
        makingOffer = false;
      }
    });
    peer.onconnectionstatechange = mine(() => {
      const state = peer.connectionState;
      root.dataset.connectionState = state;
      if (state === "connected") {
        clearTimeout(watchdog);
        say("Connected");
        remoteLabel.hidden = false;
        startClock();
      } else if (state === "disconnected" || state === "failed") {
        say("Reconnecting…");
        armWatchdog(state === "failed" ? 0 : 3000);
      } else if (state === "new" || state === "connecting") say("Connecting…");
    });
    say("Connecting…");
    armWatchdog();
    sendState();
  }

  // Not connected within 15 s of both being here: restart ICE (which renegotiates), and keep watching.
  function armWatchdog(ms = WATCHDOG_MS) {
    clearTimeout(watchdog);
    const peer = pc;
    if (!peer) return;
    watchdog = setTimeout(() => {
      if (peer !== pc || peer.connectionState === "connected") return;
      if (peer.signalingState !== "stable") {
        // A lost answer leaves our offer hanging: roll back and offer again.
        peer.setLocalDescription({ type: "rollback" }).catch(() => {}).finally(() => peer.restartIce());
      } else peer.restartIce();
      armWatchdog();
    }, ms);
  }

  async function handle(msg) {
    if (!pc || !other || msg.from !== other.id) return;
    const peer = pc;
    if (msg.kind === "description") {
      const description = msg.data;
      const collision = description.type === "offer" && (makingOffer || peer.signalingState !== "stable");
      ignoreOffer = !visit.polite && collision;
      if (ignoreOffer) return;
      await peer.setRemoteDescription(description);
      if (description.type === "offer" && peer === pc) {
        await peer.setLocalDescription();
        send("description", peer.localDescription.toJSON());
      }
    } else if (msg.kind === "candidate") {
      try { await peer.addIceCandidate(msg.data); } catch (error) { if (!ignoreOffer) throw error; }
    } else if (msg.kind === "state") {
      const parts = [];
      if (msg.data.audio === false) parts.push("microphone is off");
      if (msg.data.video === false) parts.push("camera is off");
      const lines = parts.length ? [`${other.name}’s ${parts.join(" and ")}.`] : [];
      if (msg.data.sharing) lines.push(`${other.name} is sharing their screen.`);
      remoteState.textContent = lines.join(" ");
      root.dataset.remoteAudio = msg.data.audio === false ? "off" : "on";
      root.dataset.remoteSharing = msg.data.sharing ? "yes" : "no";
    }
  }

  // Polling: quickly while negotiating, every 3 s once connected.

  function interval() {
    if (pc && pc.connectionState === "connected") return 3000;
    if (pc) return 500;
    return 1500;
  }

  function seeOther(next) {
    if (next && (!other || next.id !== other.id)) {
      const back = lastOtherName !== null;
      other = next;
      lastOtherName = next.name;
      remoteLabel.textContent = next.name;
      if ($("[data-remove-name]")) $("[data-remove-name]").textContent = next.name;
      if (back) notice(`${next.name} is back.`);
      openPeer();
    } else if (!next && other) {
      notice(`${other.name} has left.`);
      other = null;
      closePeer();
      stopClock();
    }
    if (next) other = next;
    if (removeButton) removeButton.hidden = !(other && other.remove);
    if (!other) say(texts.waitingJoin);
  }

  function notice(text) {
    remoteState.textContent = "";
    const note = $("#presence-note") || Object.assign(document.createElement("p"), { id: "presence-note", className: "presence-note" });
    note.setAttribute("role", "status");
    note.textContent = text;
    callState.after(note);
  }

  async function pollOnce() {
    let answer;
    try {
      answer = await request(`${visit.poll}?after=${lastMessage}`, {}, 1);
    } catch (error) {
      if (error.status === 404) return end("This visit has ended.", true);
      if (error.status !== 401 && !(pc && pc.connectionState === "connected")) say("Reconnecting…");
      return;
    }
    if (answer.signedIn === false) signedOut();
    if (answer.iceServers) visit.iceServers = answer.iceServers;
    if (answer.status === "waiting") { say(texts.waitingLobby); return; }
    if (answer.status === "declined") return end(texts.declined, false);
    if (answer.status === "ended") {
      return end(therapist ? "This visit has ended." : "This visit has ended. Your therapist can send you a new link if you need one.", false);
    }
    if (answer.status !== "in_room") return end("You have left the room.", true);
    showCall();
    seeOther(answer.other);
    for (const msg of answer.messages) {
      lastMessage = Math.max(lastMessage, msg.id);
      try { await handle(msg); } catch (error) { console.warn("Signalling message failed", error); }
    }
  }

  async function loop() {
    while (!stopped) {
      await pollOnce();
      if (stopped) break;
      await new Promise((resolve) => { polling = setTimeout(resolve, interval()); });
    }
  }

  function startClock() {
    if (connectedAt) return;
    connectedAt = Date.now();
    elapsed.hidden = false;
    const tick = () => {
      const seconds = Math.floor((Date.now() - connectedAt) / 1000);
      elapsed.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")} elapsed`;
    };
    tick();
    clock = setInterval(tick, 1000);
  }

  function stopClock() {
    clearInterval(clock);
    connectedAt = null;
    elapsed.hidden = true;
  }

  function showCall() {
    beforeJoin.hidden = true;
    afterLeave.hidden = true;
    controls.hidden = false;
  }

  function end(text, canRejoin) {
    stopped = true;
    clearTimeout(polling);
    closePeer();
    stopSharing(false);
    stopClock();
    other = null;
    lastOtherName = null;
    controls.hidden = true;
    afterLeave.hidden = !canRejoin;
    sessionStorage.removeItem(storageKey);
    say(text);
  }

  async function join(body) {
    warn("");
    await mediaReady; // join with the camera and microphone, not before they are ready
    const url = root.dataset.knockUrl || root.dataset.joinUrl;
    try {
      visit = await post(url, body);
    } catch (error) {
      if (error.status !== 401) warn(error.message);
      return;
    }
    if (!root.dataset.knockUrl) sessionStorage.setItem(storageKey, visit.peer);
    stopped = false;
    lastMessage = 0;
    seq = 0;
    other = null;
    say(root.dataset.knockUrl ? texts.waitingLobby : texts.waitingJoin);
    loop();
  }

  function sendState() {
    if (!visit || !other || !pc) return;
    const audio = localStream && localStream.getAudioTracks()[0];
    const video = localStream && localStream.getVideoTracks()[0];
    send("state", { audio: audio ? audio.enabled : false, video: screenTrack ? true : video ? video.enabled : false, sharing: Boolean(screenTrack) });
  }

  function toggle(kind, button, offLabel, onLabel) {
    const track = localStream && (kind === "audio" ? localStream.getAudioTracks()[0] : localStream.getVideoTracks()[0]);
    if (!track) return;
    track.enabled = !track.enabled;
    button.textContent = track.enabled ? offLabel : onLabel;
    button.setAttribute("aria-pressed", String(!track.enabled));
    sendState();
  }

  // Screen sharing replaces the camera in the call (no renegotiation when a camera was being sent).

  async function share() {
    if (screenTrack) { stopSharing(true); return; }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (error) {
      if (error.name !== "NotAllowedError" && error.name !== "AbortError") warn("Your screen cannot be shared from this browser.");
      return;
    }
    screenTrack = stream.getVideoTracks()[0];
    screenTrack.addEventListener("ended", () => stopSharing(true));
    await sendVideo(screenTrack);
    localVideo.srcObject = stream;
    shareButton.textContent = "Stop sharing";
    shareButton.setAttribute("aria-pressed", "true");
    sendState();
  }

  async function sendVideo(track) {
    if (!pc) return;
    const transceiver = pc.getTransceivers().find((t) => t.receiver.track.kind === "video");
    if (transceiver) {
      await transceiver.sender.replaceTrack(track);
      if (track && transceiver.direction === "recvonly") transceiver.direction = "sendrecv";
    } else if (track) pc.addTrack(track, localStream || new MediaStream([track]));
  }

  function stopSharing(tell) {
    if (!screenTrack) return;
    screenTrack.stop();
    screenTrack = null;
    const camera = localStream && localStream.getVideoTracks()[0];
    sendVideo(camera || null);
    localVideo.srcObject = localStream;
    shareButton.textContent = "Share screen";
    shareButton.setAttribute("aria-pressed", "false");
    if (tell) sendState();
  }

  // Full screen takes the whole call, not the video alone: its controls (Exit full screen, Mute, Leave) stay in view.
  function fullScreen(button) {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (root.requestFullscreen) root.requestFullscreen().catch(() => warn("Full screen is not available here."));
    button.blur();
  }

  document.addEventListener("fullscreenchange", () => {
    $("[data-action=fullscreen]").textContent = document.fullscreenElement ? "Exit full screen" : "Full screen";
  });

  // Leaving: asked first; the therapist leaving the personal room ends the visitor's visit too.

  function ask(dialog) {
    return new Promise((resolve) => {
      dialog.returnValue = "";
      dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
      dialog.showModal();
    });
  }

  async function leave() {
    if (!visit) return;
    const url = visit.leave + (therapist && personal ? "?end=1" : "");
    for (const track of localStream ? localStream.getTracks() : []) track.stop();
    localStream = null;
    localVideo.srcObject = null;
    end("You left the session.", true);
    await request(url, { method: "POST", headers: headers(), keepalive: true }, 3).catch(() => {});
  }

  root.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "join" || action === "rejoin") {
      button.disabled = true;
      if (!localStream) mediaReady = preview();
      const body = root.dataset.knockUrl ? { name: visitorName } : { previous: sessionStorage.getItem(storageKey) };
      join(body).finally(() => { button.disabled = false; });
    } else if (action === "knock") {
      const name = $("#visitor-name").value.trim();
      if (!name) { warn("Enter your name so your therapist knows who is waiting."); $("#visitor-name").focus(); return; }
      visitorName = name;
      join({ name });
    } else if (action === "mute") toggle("audio", button, "Mute", "Unmute");
    else if (action === "camera") toggle("video", button, "Camera off", "Camera on");
    else if (action === "share") share();
    else if (action === "fullscreen") fullScreen(button);
    else if (action === "retry-media") { mediaReady = preview(); }
    else if (action === "leave") { if (await ask(leaveDialog) === "leave") leave(); }
    else if (action === "remove" && other && other.remove) {
      if (await ask(removeDialog) !== "remove") return;
      try { await post(other.remove, {}); } catch (error) { warn(error.message); }
    }
  });

  root.addEventListener("change", async (event) => {
    if (!event.target.matches("select[data-device]")) return;
    mediaReady = preview();
  });

  // A link out of the page during a call asks first; closing or reloading the tab asks the browser's way.
  document.addEventListener("click", async (event) => {
    const link = event.target.closest("a[href]");
    if (!link || !inCall() || link.target === "_blank" || root.contains(link)) return;
    event.preventDefault();
    if (await ask(leaveDialog) !== "leave") return;
    leaving = true;
    await leave();
    window.location.href = link.href;
  });

  window.addEventListener("beforeunload", (event) => {
    if (inCall() && !leaving && other) { event.preventDefault(); event.returnValue = ""; }
  });

  window.addEventListener("pagehide", () => { if (visit && !stopped) navigator.sendBeacon(visit.leave); });

  // A reload rejoins the same room, in place of the visit this tab had.
  // Admitting a visitor, or Start session, brings the therapist straight into the call (data-autojoin).
  const rejoin = !root.dataset.knockUrl && sessionStorage.getItem(storageKey);
  let mediaReady = preview();
  for (const button of root.querySelectorAll("[data-action=join], [data-action=knock]")) button.disabled = false; // ready
  if (rejoin || "autojoin" in root.dataset) join({ previous: rejoin || null });
})();

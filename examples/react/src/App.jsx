import React, { useRef, useState } from 'react';
import { useAuthMedia, useMediaSrc, useMountedMedia } from './useAuthMedia.js';

/** Password login; a real client gets its session from its Matrix SDK instead. */
async function login(homeserver, user, password) {
  const res = await fetch(new URL('/_matrix/client/v3/login', homeserver), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user }, password }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ?? `login failed: HTTP ${res.status}`);
  return { homeserver, accessToken: body.access_token, userId: body.user_id };
}

function Gallery({ media, mode, mxcs }) {
  const ref = useRef(null);
  useMountedMedia(media, ref);
  const cover = useMediaSrc(media, mxcs[0], { width: 320, height: 240, method: 'scale' });
  return (
    <>
      <p>
        mode: <output id="mode">{mode}</output>
      </p>
      <div
        id="cover"
        data-src={cover.src ?? ''}
        style={{ width: 160, height: 120, backgroundSize: 'cover', backgroundImage: cover.src ? `url(${cover.src})` : 'none' }}
      />
      <div ref={ref}>
        {mxcs.map((mxc) => (
          <img key={mxc} data-mxc={mxc} data-width="96" data-height="96" data-method="crop" alt="" />
        ))}
      </div>
    </>
  );
}

export function App() {
  const [session, setSession] = useState(null);
  const [mxcs, setMxcs] = useState([]);
  const [problem, setProblem] = useState(null);
  const { media, mode, error } = useAuthMedia(session);

  async function onSubmit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    try {
      setMxcs(String(form.get('mxcs')).split(/\s+/).filter(Boolean));
      setSession(await login(String(form.get('homeserver')), String(form.get('user')), String(form.get('password'))));
    } catch (e) {
      setProblem(String(e.message ?? e));
    }
  }

  if (!session) {
    return (
      <form onSubmit={onSubmit}>
        <input name="homeserver" placeholder="https://matrix.example.org" />
        <input name="user" placeholder="user" />
        <input name="password" type="password" placeholder="password" />
        <textarea name="mxcs" placeholder="mxc://… (one per line)" />
        <button type="submit">Log in</button>
        {problem && <p role="alert">{problem}</p>}
      </form>
    );
  }
  if (error) return <p role="alert">{error.code}: {error.message}</p>;
  if (!media) return <p>starting…</p>;
  return <Gallery media={media} mode={mode} mxcs={mxcs} />;
}

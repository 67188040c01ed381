// Entry point: resume the session of an earlier page load (if any), then render.
import { render } from 'preact';
import { Session } from './api';
import { App } from './ui';
import { start } from './store';
import './style.css';

// The session cookie, if any, gives a fresh access token first, so a returning
// person does not see the sign-in form flash by.
void Session.resume()
  .then((session) => { if (session) void start(session); })
  .finally(() => render(<App />, document.getElementById('app')!));

// Entry point: resume a stored session (if any), then render.
import { render } from 'preact';
import { Session } from './api';
import { App } from './ui';
import { start } from './store';
import './style.css';

const session = Session.resume();
if (session) void start(session);
render(<App />, document.getElementById('app')!);

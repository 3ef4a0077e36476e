// htm binds tagged templates to preact's h(): JSX without a build step.
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);

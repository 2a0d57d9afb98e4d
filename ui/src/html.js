// htm bound to Preact: tagged templates instead of JSX, so no transform is needed.
export { html } from "htm/preact";

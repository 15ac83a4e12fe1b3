// One small modal dialog that asks for a text (a folder path): resolves to the value once
// `validate` (an API call) succeeded, or null when cancelled. A refusal stays in the dialog.

import { $, clear, h, showMessage } from "./dom.js";

export function askText({ title, label, value = "", options = [], validate }) {
  const dialog = $("#prompt");
  const form = $("#prompt-form");
  const input = $("#prompt-input");
  const errors = $("#prompt-error");
  $("#prompt-title").textContent = title;
  $("#prompt-label").textContent = label;
  clear($("#prompt-options")).append(...options.map((o) => h("option", { value: o })));
  clear(errors);
  input.value = value;
  return new Promise((resolve) => {
    let busy = false;
    const finish = (result) => {
      form.removeEventListener("submit", submit);
      dialog.removeEventListener("close", closed);
      $("#prompt-cancel").removeEventListener("click", cancel);
      if (dialog.open) dialog.close();
      resolve(result);
    };
    const submit = async (event) => {
      event.preventDefault();
      if (busy) return;
      busy = true;
      $("#prompt-ok").disabled = true;
      const text = input.value.trim();
      try {
        await validate(text);
        finish(text);
      } catch (error) {
        showMessage(errors, error.message);
        input.focus();
      } finally {
        busy = false;
        $("#prompt-ok").disabled = false;
      }
    };
    const closed = () => finish(null);
    const cancel = () => finish(null);
    form.addEventListener("submit", submit);
    dialog.addEventListener("close", closed);
    $("#prompt-cancel").addEventListener("click", cancel);
    dialog.showModal();
    input.focus();
    input.select();
  });
}

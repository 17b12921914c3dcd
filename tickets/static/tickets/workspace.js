// The ticket page: "Insert into reply" puts a suggestion's snippet and public link into the
// reply box (after what is already there), ready to edit and send.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-insert]");
  if (!button) {
    return;
  }
  event.preventDefault();
  const box = document.getElementById("id_reply-body");
  if (!box) {
    return;
  }
  const text = button.dataset.insert;
  const before = box.value.replace(/\s+$/, "");
  box.value = before ? `${before}\n\n${text}` : text;
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
  box.scrollIntoView({ block: "center" });
});

// A form with `data-confirm` (merging a duplicate: it closes that ticket) asks first.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// "Choose it" next to triage's suggested category, or next to an order the customer's words
// name, picks it in the form; Save applies it (as the agent's choice, like any other).
for (const [attribute, field] of [
  ["data-choose-category", "id_controls-category"],
  ["data-choose-order", "id_controls-order"],
]) {
  document.addEventListener("click", (event) => {
    const button = event.target.closest(`[${attribute}]`);
    const select = document.getElementById(field);
    if (!button || !select) {
      return;
    }
    event.preventDefault();
    select.value = button.getAttribute(attribute);
    select.focus();
  });
}

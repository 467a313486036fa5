// Saved widget state (a notebook reopened with "save widget state" on, an nbconvert HTML
// page) renders views whose models are connected to no kernel: their buttons do nothing.
// Each view asks the kernel once; with no answer within SNAPSHOT_MS it is a snapshot and
// says so (Python prepends this file to each widget's page code: see page_module).

const SNAPSHOT_MS = 4000;

function whenSnapshot(model, ask, answerKind, onSnapshot) {
  let answered = false;
  const onAnswer = (msg) => {
    if (msg && msg.kind === answerKind) answered = true;
  };
  model.on("msg:custom", onAnswer);
  let sent = false;
  try {
    model.send(ask);
    sent = true;
  } catch (err) {
    sent = false; // no kernel connection at all
  }
  const timer = setTimeout(() => {
    if (!answered) onSnapshot();
  }, sent ? SNAPSHOT_MS : 0);
  return () => {
    clearTimeout(timer);
    model.off("msg:custom", onAnswer);
  };
}

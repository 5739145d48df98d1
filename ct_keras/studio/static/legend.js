// The task legend: one button per task in its legend colour (tasks.TASK_COLOURS) to pick
// the task to paint, and the legend of a prediction (tasks used, classes predicted).

function swatch(rgb) {
  const box = document.createElement("span");
  box.className = "swatch";
  box.style.background = `rgb(${rgb.join(",")})`;
  return box;
}

// Buttons for `tasks` ([{id, name, colour}]) in `container`; `onPick(name)` on a click.
export function taskPicker(container, tasks, onPick) {
  container.replaceChildren();
  const buttons = tasks.map((task) => {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.task = task.name;
    button.title = `paint ${task.name} (key ${task.id + 1})`;
    button.append(swatch(task.colour), task.name);
    button.addEventListener("click", () => pick(task.name));
    container.append(button);
    return button;
  });
  function pick(name) {
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.task === name));
    onPick(name);
  }
  pick(tasks[0].name);
  return pick;
}

// The legend the server sent: [{heading, entries: [{colour, label}]}].
export function showLegend(container, legend) {
  container.replaceChildren(...legend.map(({ heading, entries }) => {
    const row = document.createElement("div");
    row.className = "row";
    const title = document.createElement("strong");
    title.textContent = `${heading}: `;
    row.append(title);
    for (const { colour, label } of entries) {
      const entry = document.createElement("span");
      entry.className = "entry";
      entry.append(swatch(colour), label);
      row.append(entry);
    }
    return row;
  }));
}

// The period picker: month, quarter, year or custom dates, to and from the API's strings
// (YYYY-MM, YYYY-Qn, YYYY, START/END).

const $ = (id) => document.getElementById(id);

/** Show the inputs of the chosen kind of period only. */
function showKind(kind) {
  for (const box of document.querySelectorAll("[data-period]")) {
    box.hidden = box.dataset.period !== kind;
  }
}

/** Fill the picker from a period string such as "2024-07". */
export function setPeriod(period) {
  let kind = "month";
  if (/^\d{4}-\d{2}$/.test(period)) {
    $("period-month").value = period;
  } else if (/^\d{4}-Q[1-4]$/.test(period)) {
    kind = "quarter";
    $("period-quarter-year").value = period.slice(0, 4);
    $("period-quarter").value = period.slice(5);
  } else if (/^\d{4}$/.test(period)) {
    kind = "year";
    $("period-year").value = period;
  } else if (period.includes("/")) {
    kind = "custom";
    [$("period-start").value, $("period-end").value] = period.split("/");
  }
  // Keep the other kinds consistent with the chosen year, so switching kind is one click.
  const year = period.slice(0, 4);
  if (!$("period-quarter-year").value) $("period-quarter-year").value = year;
  if (!$("period-year").value) $("period-year").value = year;
  $("period-kind").value = kind;
  showKind(kind);
}

/** Return the API string of the picker's period ("" when incomplete). */
export function getPeriod() {
  switch ($("period-kind").value) {
    case "month": return $("period-month").value;
    case "quarter": {
      const year = $("period-quarter-year").value;
      return year ? `${year}-${$("period-quarter").value}` : "";
    }
    case "year": return $("period-year").value;
    default: {
      const start = $("period-start").value;
      const end = $("period-end").value;
      return start && end ? `${start}/${end}` : "";
    }
  }
}

export function initPeriod(initial) {
  $("period-kind").addEventListener("change", (event) => showKind(event.target.value));
  setPeriod(initial);
}

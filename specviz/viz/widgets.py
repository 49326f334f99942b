"""Jupyter widgets: ``Stepper`` walks through a trace phase by phase; ``explore`` runs a pair live.

Each figure is a ``Plot`` (see ``plot.py``): a step builds the figures that changed and hands
them over whole, so the browser draws exactly the Python figure of the current step, whenever it
draws it, and plotly.js reaches the browser once per kernel. No CDN is needed, in JupyterLab 4 or
in VS Code.
"""

from __future__ import annotations

import html
import os
import time

import ipywidgets as widgets

from .. import algorithms
from ..algorithms.loop import generate
from ..trace import PHASES, Event, Iteration, Trace
from .distribution import distribution_figure
from .explain import explain, quoted
from .fates import decisive_position, positions, trace_fates
from .plot import Plot
from .static import STATIC_HTML_ENV, static_note, stepper_html
from .strip import HIGHLIGHT, WIDTH, iteration_outline, layout_cells, token_strip_figure
from .style import PHASE_COLOURS, PHASE_DESCRIPTIONS, plain_to_html, text_colour_on
from .summary import summary_figure
from .translation import translation_figure
from .vocabulary import vocabulary_figure


def _button(icon: str, tooltip: str) -> widgets.Button:
    return widgets.Button(icon=icon, tooltip=tooltip, layout=widgets.Layout(width="40px"))


class Stepper(widgets.VBox):
    """Step through a trace: iterations x phases, with figures and words that follow each step.

    ``next() / back() / first() / last() / goto(iteration, phase, position)`` move; ``iteration``,
    ``phase`` and ``position`` say where it is. The figure widgets are ``strip``, ``translation``,
    ``distribution``, ``summary`` and ``vocabulary``; ``explanation`` holds the words.
    """

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.steps: list[tuple[int, str]] = [(it.index, e.phase)
                                             for it in trace.iterations for e in it.events]
        self._step = 0
        self._shown: tuple | None = None  # (iteration, phase, position) on screen
        self._position: int | None = None  # a position chosen by the user, if any
        self._drawing = False  # set while _show updates the controls itself
        self._cells = layout_cells(trace_fates(trace.iterations), WIDTH)  # the strip's layout

        last = max(len(self.steps) - 1, 0)
        self.first_button = _button("step-backward", "first step")
        self.back_button = _button("chevron-left", "previous phase")
        self.next_button = _button("chevron-right", "next phase")
        self.last_button = _button("step-forward", "last step")
        self.play = widgets.Play(min=0, max=last, interval=800, description="play")
        self.slider = widgets.IntSlider(min=0, max=last, readout=False, continuous_update=False,
                                        description="step", layout=widgets.Layout(width="40%"))
        self.step_label = widgets.Label()
        self.position_picker = widgets.Dropdown(  # wide enough for "3: target's own token"
            description="position", layout=widgets.Layout(width="420px"))
        self.phase_bar = widgets.HTML()
        self.explanation = widgets.HTML()

        iteration, phase = self.steps[0] if self.steps else (0, "accept")
        self.strip = Plot(token_strip_figure(trace, iteration))
        self.translation = Plot(translation_figure(trace, iteration))
        self.distribution = Plot(distribution_figure(trace, iteration, 0, phase))
        self.summary = Plot(summary_figure(trace))
        self.vocabulary = Plot(vocabulary_figure(trace))

        for button, move in ((self.first_button, self.first), (self.back_button, self.back),
                             (self.next_button, self.next), (self.last_button, self.last)):
            button.on_click(lambda _, move=move: move())
        widgets.link((self.play, "value"), (self.slider, "value"))
        self.slider.observe(self._on_slider, "value")
        self.position_picker.observe(self._on_position, "value")

        controls = widgets.HBox([self.first_button, self.back_button, self.play, self.next_button,
                                 self.last_button, self.slider, self.step_label])
        # One figure per row, each as wide as the output area.
        super().__init__([controls, self.phase_bar, self.explanation, self.strip, self.translation,
                          self.position_picker, self.distribution, self.summary, self.vocabulary])
        self._show()

    # -- where we are ----------------------------------------------------------------------------

    @property
    def step(self) -> int:
        """Index into ``steps``, the (iteration, phase) pairs of the trace in order."""
        return self._step

    @property
    def iteration(self) -> int:
        return self.steps[self._step][0] if self.steps else 0

    @property
    def phase(self) -> str:
        return self.steps[self._step][1] if self.steps else ""

    @property
    def position(self) -> int | None:
        """The candidate position the distribution chart shows (None: no iteration)."""
        return self._shown[2] if self._shown else None

    # -- moving ----------------------------------------------------------------------------------

    def next(self) -> None:
        self._go(self._step + 1)

    def back(self) -> None:
        self._go(self._step - 1)

    def first(self) -> None:
        self._go(0)

    def last(self) -> None:
        self._go(len(self.steps) - 1)

    def goto(self, iteration: int, phase: str | None = None, position: int | None = None) -> None:
        """Show ``phase`` of ``iteration`` (its first recorded phase if None), the distribution at
        candidate ``position`` (default: where the iteration was decided)."""
        matches = [i for i, (it, ph) in enumerate(self.steps)
                   if it == iteration and (phase is None or ph == phase)]
        if not matches:
            recorded = sorted({ph for it, ph in self.steps if it == iteration}, key=PHASES.index)
            raise ValueError(f"iteration {iteration} has no {phase or 'recorded'} phase "
                             f"(recorded: {', '.join(recorded) or 'none'}; "
                             f"{len(self.trace.iterations)} iterations in this trace)")
        choices = positions(self.trace.iteration(iteration))
        if position is not None and position not in choices:
            raise ValueError(f"iteration {iteration} has no position {position} to show "
                             f"(positions the target judged: {choices})")
        self._position = position
        self._go(matches[0], keep_position=True)

    def _go(self, step: int, keep_position: bool = False) -> None:
        if not keep_position:
            self._position = None
        step = min(max(step, 0), max(len(self.steps) - 1, 0))
        if step == self.slider.value:
            self._step = step
            self._show()
        else:
            self.slider.value = step  # observed: _on_slider shows it

    def _on_slider(self, change: dict) -> None:
        self._step = change["new"]
        self._show()

    def _on_position(self, change: dict) -> None:
        if not self._drawing and change["new"] is not None and change["new"] != self.position:
            self._position = change["new"]
            self._show()

    # -- drawing ---------------------------------------------------------------------------------

    def _show(self) -> None:
        """Bring every panel to the current step, redrawing only what changed."""
        self._drawing = True
        try:
            self._draw()
        finally:
            self._drawing = False

    def _draw(self) -> None:
        if not self.steps:
            self.step_label.value = "no iterations"
            self.phase_bar.value = self.phase_html()
            self.explanation.value = words_html(explain(self.trace, 0, "accept"))
            for button in (self.first_button, self.back_button, self.next_button,
                           self.last_button, self.play, self.slider, self.position_picker):
                button.disabled = True
            return
        iteration, phase = self.steps[self._step]
        it = self.trace.iteration(iteration)  # by number: an excerpt keeps the originals
        choices = positions(it)
        position = self._position if self._position in choices else default_position(it, phase)
        shown_before = self._shown or (None, None, None)
        self._shown = (iteration, phase, position)

        self.step_label.value = self.step_words(iteration, phase)
        self.phase_bar.value = self.phase_html(iteration, phase)
        self.explanation.value = words_html(explain(self.trace, iteration, phase))
        if iteration != shown_before[0]:
            xs, ys = iteration_outline(self._cells, iteration)  # the strip itself stays put
            self.strip.restyle(HIGHLIGHT, x=xs, y=ys)
            self.translation.show(translation_figure(self.trace, iteration))
            self.position_picker.options = [(self._position_label(it, j), j) for j in choices]
        if self._shown != shown_before:
            self.distribution.show(distribution_figure(self.trace, iteration, position, phase))
        if self.position_picker.value != position:
            self.position_picker.value = position if position in choices else None

    def _position_label(self, it: Iteration, j: int) -> str:
        verify = it.get("verify")
        if verify is not None and j < len(verify.positions):
            return f"{j}: {quoted(verify.positions[j].candidate_text)}"
        return f"{j}: target's own token"

    def step_words(self, iteration: int, phase: str) -> str:
        return f"iteration {iteration} / {self.trace.iterations[-1].index} · {phase}"

    def phase_html(self, iteration: int | None = None, phase: str | None = None) -> str:
        """The four phases as pills, the current one filled with its colour."""
        it = self.trace.iteration(iteration) if self.steps else None
        pills = []
        current = phase
        for phase in PHASES:
            colour = PHASE_COLOURS[phase]
            recorded = it is not None and it.get(phase) is not None
            style = (f"border:2px solid {colour};border-radius:12px;padding:2px 10px;"
                     "margin-right:4px")
            if phase == current and self.steps:
                style += f";background:{colour};color:{text_colour_on(colour)};font-weight:bold"
            elif not recorded:
                style += ";opacity:0.35;text-decoration:line-through"
            tip = PHASE_DESCRIPTIONS[phase]
            pills.append(f"<span style='{style}' title='{tip}'>{phase}</span>")
        return " → ".join(pills)

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """The widget; in a kernel publishing the course as HTML, also every step as static HTML."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if os.environ.get(STATIC_HTML_ENV):
            bundle["text/html"] = stepper_html(self)
        return bundle

    def __repr__(self) -> str:
        algorithm = self.trace.meta.get("algorithm", "?")
        if not self.steps:
            return f"<Stepper {algorithm}: no iterations>"
        words = explain(self.trace, self.iteration, self.phase)
        return (f"<Stepper {algorithm}: step {self._step + 1}/{len(self.steps)}, iteration "
                f"{self.iteration}, {self.phase}>\n{words}")


def default_position(it: Iteration, phase: str) -> int:
    """The position a step shows unless one is chosen: the first candidate before the target has
    run, then the position that decided the iteration."""
    return 0 if PHASES.index(phase) < PHASES.index("verify") else decisive_position(it)


def words_html(text: str) -> str:
    body = plain_to_html(text)
    return f"<div style='font-family:sans-serif;line-height:1.5;max-width:1100px'>{body}</div>"


class Explorer(widgets.VBox):
    """Controls to run a pair live, a token strip that fills in as it runs, then a ``Stepper``.

    ``run()`` (or the Run button) generates with the current settings; errors appear in
    ``message``. After a run, ``trace`` and ``stepper`` hold the result.
    """

    def __init__(self, pair, prompt: str = "the", max_new_tokens: int = 32) -> None:
        self.pair = pair
        label = {"style": {"description_width": "initial"}}
        self.prompt = widgets.Text(value=prompt, description="prompt",
                                   layout=widgets.Layout(width="60%"), **label)
        self.algorithm = widgets.Dropdown(options=list(algorithms.ALGORITHMS), value="slem",
                                          description="algorithm", **label)
        self.lookahead = widgets.IntSlider(value=4, min=1, max=12, description="lookahead",
                                           **label)
        self.temperature = widgets.FloatText(value=0.0, step=0.1, description="temperature",
                                             **label)
        self.seed = widgets.IntText(value=0, description="seed", **label)
        self.max_new_tokens = widgets.IntText(value=max_new_tokens, description="max tokens",
                                              **label)
        self.run_button = widgets.Button(description="Run", icon="play", button_style="primary")
        self.progress = widgets.IntProgress(min=0, max=1, value=0, description="progress")
        self.progress_label = widgets.HTML()  # wraps, where a Label would cut the stats off
        self.message = widgets.HTML()
        self.live = Plot(token_strip_figure(Trace(), iterations=[]))
        self.stepper: Stepper | None = None
        self.trace: Trace | None = None
        self._live: list[Iteration] = []
        self._live_trace = Trace()
        self._drawn_at = 0.0
        self.run_button.on_click(lambda _: self.run())
        self._controls = [
            widgets.HBox([self.prompt, self.algorithm]),
            widgets.HBox([self.lookahead, self.temperature]),
            widgets.HBox([self.seed, self.max_new_tokens, self.run_button]),
            self.progress, self.progress_label, self.message,
        ]
        super().__init__([*self._controls, self.live])  # the live strip, then a Stepper

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs)
        if os.environ.get(STATIC_HTML_ENV):
            bundle["text/html"] = static_note("explore()")
        return bundle

    def run(self) -> Trace | None:
        """Generate with the current settings, drawing live; then hand the trace to a Stepper."""
        self.message.value = self.progress_label.value = ""
        self.run_button.disabled = True
        self.children = [*self._controls, self.live]
        self._live = []
        self._live_trace = Trace(meta={"algorithm": self.algorithm.value}, prompt=self.prompt.value)
        self.progress.max = max(self.max_new_tokens.value or 0, 1)
        self.progress.value = 0
        try:
            result = generate(self.pair, self.prompt.value, self.algorithm.value,
                              max_new_tokens=self.max_new_tokens.value,
                              lookahead=self.lookahead.value, temperature=self.temperature.value,
                              seed=self.seed.value, hooks=self._on_event)
        except Exception as err:  # shown to the student, not only logged
            self.message.value = (f"<div style='color:#D55E00'><b>Could not run "
                                  f"({type(err).__name__}):</b> {html.escape(str(err))}</div>")
            if self.stepper is not None:  # keep the last good run on screen
                self.children = [*self._controls, self.stepper]
            return None
        finally:
            self.run_button.disabled = False
        self._draw_live()
        self.trace = result.trace
        self.progress_label.value = f"done: {html.escape(str(result.stats))}; drawing…"
        self.stepper = Stepper(result.trace)
        self.progress_label.value = f"done: {html.escape(str(result.stats))}"
        self.children = [*self._controls, self.stepper]
        return self.trace

    def _on_event(self, event: Event) -> None:
        """Called by ``generate`` after each phase: record it; redraw 4 times a second at most."""
        if not self._live or self._live[-1].index != event.iteration:
            self._live.append(Iteration(event.iteration))
        self._live[-1].events.append(event)
        if event.phase == "accept":
            self.progress.value = min(self.progress.value + len(event.committed), self.progress.max)
            self.progress_label.value = (f"{self.progress.value} tokens, "
                                         f"{len(self._live)} iterations")
            if time.perf_counter() - self._drawn_at > 0.25:
                self._draw_live()

    def _draw_live(self) -> None:
        self.live.show(token_strip_figure(self._live_trace, iterations=self._live))
        self._drawn_at = time.perf_counter()


def explore(pair, prompt: str = "the", max_new_tokens: int = 32, drafter=None) -> Explorer:
    """Controls for prompt, algorithm, lookahead, temperature, seed and length, a Run button that
    generates live, and a ``Stepper`` for the result. Returns the widget (display it).
    ``drafter`` ('prompt-lookup', 'ngram', or a model such as ``sv.PromptLookup()``) replaces the
    pair's own drafter."""
    return Explorer(pair if drafter is None else pair.with_drafter(drafter), prompt, max_new_tokens)

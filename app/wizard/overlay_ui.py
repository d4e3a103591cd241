"""The wizard in the mirror window (`liveface mirror --calibrate`): the same steps, shown
in a panel of the imgui overlay instead of the terminal.

`PanelUI` (panel_ui.py) holds what the wizard says, from its own thread; the render thread
draws it here each frame (`draw`), and a button pressed there answers the question the
wizard waits on. Unattended (`--auto`) the window closes once the summary has been shown.
"""

from app.wizard.panel_ui import PanelUI, WizardThread  # noqa: F401 - the mirror starts it from here

PANEL_WIDTH_PX = 560
PROMPT_COLOUR = (1.0, 0.85, 0.3, 1.0)  # the sentence to read stands out


class OverlayUI(PanelUI):
    def draw(self, imgui) -> None:
        """The panel as an imgui window at the bottom of the window (the render thread)."""
        state = self.snapshot()
        display = imgui.get_io().display_size
        imgui.set_next_window_pos((display.x * 0.5, display.y - 10), imgui.Cond_.always,
                                  (0.5, 1.0))
        imgui.set_next_window_size((PANEL_WIDTH_PX, 0))
        imgui.begin("setup", None, imgui.WindowFlags_.no_saved_settings
                    | imgui.WindowFlags_.no_collapse)
        imgui.text(state.heading)
        imgui.separator()
        for line in state.lines:
            imgui.text_wrapped(line)
        if state.prompt:
            imgui.separator()
            imgui.push_style_color(imgui.Col_.text, PROMPT_COLOUR)
            imgui.text_wrapped(state.prompt)
            imgui.pop_style_color()
        if state.meter is not None:
            label, fraction, text = state.meter
            imgui.progress_bar(fraction, (-1, 0), f"{label} {text}")
        for key, label in state.choices:
            if imgui.button(label):
                self.answer(key)
            imgui.same_line()
        imgui.new_line()
        imgui.end()

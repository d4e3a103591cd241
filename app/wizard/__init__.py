"""The setup wizard: `liveface calibrate` with no part guides a person through the
microphone, their voice, the eye camera (when there is one) and the avatar, and saves what
it learns in their profile (`app.profiles`).

    plan.py         the steps and their texts, read from calibration/wizard.toml and
                    the sentences to read from calibration/prompts/<language>.txt
    ui.py           how the wizard talks: the terminal (rich), or unattended (--auto)
    panel_ui.py     ... or a panel another thread draws, the wizard on its own thread:
    overlay_ui.py     in the mirror window's overlay (`liveface mirror --calibrate`),
                      or in the headset's scene (`liveface run --calibrate`, app/xr/panel.py)
    record.py       a take recorded from the microphone, ended by a pause
    virtual_mic.py  prepared takes played through a PulseAudio virtual microphone
    steps.py        the microphone, eye camera and avatar steps
    voice_step.py   sentences read, checked, asked again, then the voice enrolled
    run.py          the sequence: explain, run, result, skip or redo; the profile saved
    cli.py          the arguments of the bare `liveface calibrate`
"""

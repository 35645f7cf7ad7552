"""Embedding Distillation Lab: the Streamlit entry point (page setup and navigation only).

The navigation is drawn before the engine is imported (seconds on a fresh server): the first visitor sees the
app's pages at once. Why every page starts with `through_app()`, and why `.streamlit/config.toml` hides
Streamlit's own sidebar navigation: pages/_frame.py."""

import streamlit as st

from pages._frame import PAGES, frame, host_settings
from pages._identity import is_teacher, sign_in_gate

st.set_page_config(page_title="Embedding Distillation Lab", page_icon=":material/science:", layout="wide")
try:
    settings = host_settings()
except ValueError as err:  # a bad hosting setting: say which, start nothing
    st.error(f"The lab cannot start: {err}")
    st.stop()
sign_in_gate(settings)  # login = true: Streamlit's st.login first (pages/_identity.py), then nothing

teacher = is_teacher()
st.set_option("client.showSidebarNavigation", True)  # the app's own navigation (config.toml hides the folder's)
navigation = st.navigation(
    {
        "Learn": [
            st.Page(PAGES["start"], title="Start", icon=":material/rocket_launch:", default=True),
            st.Page(PAGES["story"], title="The story in five steps", icon=":material/auto_stories:"),
        ],
        "Experiment": [
            st.Page(PAGES["data"], title="Data & teacher", icon=":material/dataset:"),
            st.Page(PAGES["train"], title="Train", icon=":material/model_training:"),
            st.Page(PAGES["sweep"], title="Sweep (paper figures)", icon=":material/grid_on:"),
            st.Page(PAGES["poisoning"], title="Poisoning lab", icon=":material/coronavirus:"),
            st.Page(PAGES["watermark"], title="Watermark lab", icon=":material/verified:"),
            st.Page(PAGES["adapters"], title="Adapter lab (sentences)", icon=":material/translate:"),
        ],
        "Compare with the teacher": [
            st.Page(PAGES["evaluate"], title="Honest evaluation", icon=":material/fact_check:"),
            st.Page(PAGES["distributions"], title="Distributions", icon=":material/bar_chart:"),
            st.Page(PAGES["projection"], title="Projection", icon=":material/scatter_plot:"),
            st.Page(PAGES["analogies"], title="Analogies & similarity", icon=":material/calculate:"),
            st.Page(PAGES["runs"], title="Runs", icon=":material/folder_open:"),
        ],
        # On a host: the challenges; the class board for the class's teachers alone (lab.toml's [classroom]
        # teachers): a student's session has no such page.
        **(
            {
                "Class": [
                    *(
                        [st.Page(PAGES["leaderboard"], title="Challenge", icon=":material/emoji_events:")]
                        if settings.hosted
                        else []
                    ),
                    *(
                        [st.Page(PAGES["class_board"], title="Class board", icon=":material/groups:")]
                        if teacher
                        else []
                    ),
                ]
            }
            if settings.hosted or teacher
            else {}
        ),
    },
    expanded=True,  # every page listed: with the Watermark lab, Streamlit's default folds the last three under "View more"
)

# The engine, imported once the navigation is on its way to the browser.
from pages._shared import init_session, sidebar, umap_warm_up, write_address  # noqa: E402
from pages._waits import sidebar_status as warm_status  # noqa: E402

init_session()
umap_warm_up()  # the warm-up (pages/_waits.py): computes once, in the background, what visitors would wait for
sidebar()
warm_status()  # 'Preparing: MPNet vectors of 10,002 words (3 of 10)…' / 'Everything is ready'
with frame():
    navigation.run()
write_address()  # what a button set during the page's run goes into the address at once

//! Integration tests for `roam`: real node processes (each with its own
//! `ROAM_HOME`), real git repositories, the scripted test agent in real
//! PTYs, and `roam attach` driven through a PTY on the client side.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod aider;
mod attach;
mod bad_input;
mod fake_llm;
mod flood;
mod harness;
mod holders;
mod hosts;
mod lan;
mod lifecycle;
mod listing;
mod mesh;
mod ownership;
mod processes;
mod repaint;
mod restart;
mod site;
mod tidy;

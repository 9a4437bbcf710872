//! A CPU without AVX2 runs the portable kernels. Forced here with ALMANAC_CPU_ISA=scalar (this file
//! is its own test binary, so the choice, made once per process, affects nothing else).

mod common;

use almanac_engine::{CancelFlag, ChatMessage, ChatModel, GenerationParams, LoadOptions};

#[test]
fn the_portable_kernels_answer_the_question() {
    std::env::set_var("ALMANAC_CPU_ISA", "scalar");
    assert_eq!(almanac_engine::kernel_isa(), "scalar");
    let mut model = ChatModel::load(&common::chat_model_path(), &LoadOptions::default()).unwrap();
    let prompt = model
        .render_chat(
            &[ChatMessage::user(
                "What is the capital of France? Answer in one sentence.",
            )],
            true,
        )
        .unwrap();
    let params = GenerationParams {
        max_tokens: 12,
        ..Default::default()
    };
    let answer = model
        .generate(&prompt, &params, &CancelFlag::default(), &mut |_| {})
        .unwrap();
    assert!(answer.text.contains("Paris"), "{answer:?}");
}

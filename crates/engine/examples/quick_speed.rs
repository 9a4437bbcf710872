use almanac_engine::*;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let n: usize = std::env::args().nth(2).map_or(512, |s| s.parse().unwrap());
    let threads = std::env::var("T").ok().map(|t| t.parse().unwrap());
    let mut m = ChatModel::load(
        path.as_ref(),
        &LoadOptions {
            threads,
            ..Default::default()
        },
    )
    .unwrap();
    println!("isa {} threads {}", kernel_isa(), m.threads());
    let ids: Vec<u32> = (0..n as u32).map(|i| 100 + (i * 37) % 40000).collect();
    for _ in 0..3 {
        m.clear_prompt_cache();
        let g = m
            .generate_from_tokens(
                &ids,
                &GenerationParams {
                    max_tokens: 128,
                    ..Default::default()
                },
                &CancelFlag::default(),
                &mut |_| {},
            )
            .unwrap();
        println!(
            "prefill {:.1} tok/s, decode {:.1} tok/s ({} tokens)",
            n as f64 / g.prefill.as_secs_f64(),
            g.generated_tokens as f64 / g.decode.as_secs_f64(),
            g.generated_tokens
        );
    }
}

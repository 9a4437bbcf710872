//! Subjects grouped into the categories their benchmarks report.
//!
//! MMLU: the subject → subcategory → category maps of hendrycks/test's `categories.py` (STEM,
//! humanities, social sciences, other), flattened. KMMLU: the `supercategories` map of its dataset
//! card (STEM, Applied Science, HUMSS, Other), keyed by the subject in lower case with `_` for `-`.

use super::data::Format;

const MMLU: &[(&str, &str)] = &[
    ("abstract_algebra", "STEM"),
    ("anatomy", "other (business, health, misc.)"),
    ("astronomy", "STEM"),
    ("business_ethics", "other (business, health, misc.)"),
    ("clinical_knowledge", "other (business, health, misc.)"),
    ("college_biology", "STEM"),
    ("college_chemistry", "STEM"),
    ("college_computer_science", "STEM"),
    ("college_mathematics", "STEM"),
    ("college_medicine", "other (business, health, misc.)"),
    ("college_physics", "STEM"),
    ("computer_security", "STEM"),
    ("conceptual_physics", "STEM"),
    ("econometrics", "social sciences"),
    ("electrical_engineering", "STEM"),
    ("elementary_mathematics", "STEM"),
    ("formal_logic", "humanities"),
    ("global_facts", "other (business, health, misc.)"),
    ("high_school_biology", "STEM"),
    ("high_school_chemistry", "STEM"),
    ("high_school_computer_science", "STEM"),
    ("high_school_european_history", "humanities"),
    ("high_school_geography", "social sciences"),
    ("high_school_government_and_politics", "social sciences"),
    ("high_school_macroeconomics", "social sciences"),
    ("high_school_mathematics", "STEM"),
    ("high_school_microeconomics", "social sciences"),
    ("high_school_physics", "STEM"),
    ("high_school_psychology", "social sciences"),
    ("high_school_statistics", "STEM"),
    ("high_school_us_history", "humanities"),
    ("high_school_world_history", "humanities"),
    ("human_aging", "other (business, health, misc.)"),
    ("human_sexuality", "social sciences"),
    ("international_law", "humanities"),
    ("jurisprudence", "humanities"),
    ("logical_fallacies", "humanities"),
    ("machine_learning", "STEM"),
    ("management", "other (business, health, misc.)"),
    ("marketing", "other (business, health, misc.)"),
    ("medical_genetics", "other (business, health, misc.)"),
    ("miscellaneous", "other (business, health, misc.)"),
    ("moral_disputes", "humanities"),
    ("moral_scenarios", "humanities"),
    ("nutrition", "other (business, health, misc.)"),
    ("philosophy", "humanities"),
    ("prehistory", "humanities"),
    ("professional_accounting", "other (business, health, misc.)"),
    ("professional_law", "humanities"),
    ("professional_medicine", "other (business, health, misc.)"),
    ("professional_psychology", "social sciences"),
    ("public_relations", "social sciences"),
    ("security_studies", "social sciences"),
    ("sociology", "social sciences"),
    ("us_foreign_policy", "social sciences"),
    ("virology", "other (business, health, misc.)"),
    ("world_religions", "humanities"),
];

const KMMLU: &[(&str, &str)] = &[
    ("accounting", "HUMSS"),
    ("agricultural_sciences", "Other"),
    ("aviation_engineering_and_maintenance", "Applied Science"),
    ("biology", "STEM"),
    ("chemical_engineering", "STEM"),
    ("chemistry", "STEM"),
    ("civil_engineering", "STEM"),
    ("computer_science", "STEM"),
    ("construction", "Other"),
    ("criminal_law", "HUMSS"),
    ("ecology", "STEM"),
    ("economics", "HUMSS"),
    ("education", "HUMSS"),
    ("electrical_engineering", "STEM"),
    ("electronics_engineering", "Applied Science"),
    ("energy_management", "Applied Science"),
    ("environmental_science", "Applied Science"),
    ("fashion", "Other"),
    ("food_processing", "Other"),
    ("gas_technology_and_engineering", "Applied Science"),
    ("geomatics", "Applied Science"),
    ("health", "Other"),
    ("industrial_engineer", "Applied Science"),
    ("information_technology", "STEM"),
    ("interior_architecture_and_design", "Other"),
    ("korean_history", "HUMSS"),
    ("law", "HUMSS"),
    ("machine_design_and_manufacturing", "Applied Science"),
    ("management", "HUMSS"),
    ("maritime_engineering", "Applied Science"),
    ("marketing", "Other"),
    ("materials_engineering", "STEM"),
    ("math", "STEM"),
    ("mechanical_engineering", "STEM"),
    ("nondestructive_testing", "Applied Science"),
    ("patent", "Other"),
    ("political_science_and_sociology", "HUMSS"),
    ("psychology", "HUMSS"),
    ("public_safety", "Other"),
    ("railway_and_automotive_engineering", "Applied Science"),
    ("real_estate", "Other"),
    ("refrigerating_machinery", "Other"),
    ("social_welfare", "HUMSS"),
    ("taxation", "HUMSS"),
    (
        "telecommunications_and_wireless_technology",
        "Applied Science",
    ),
];

/// The category `subject` is reported under ("other" for a subject the map does not know).
pub fn category(format: Format, subject: &str) -> &'static str {
    let (map, key) = match format {
        Format::Mmlu => (MMLU, subject.to_string()),
        Format::Kmmlu => (KMMLU, subject.to_lowercase().replace('-', "_")),
    };
    map.iter()
        .find(|(name, _)| *name == key)
        .map_or("other", |(_, category)| category)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subject_has_its_published_category() {
        assert_eq!(MMLU.len(), 57);
        assert_eq!(KMMLU.len(), 45);
        assert_eq!(category(Format::Mmlu, "abstract_algebra"), "STEM");
        assert_eq!(category(Format::Mmlu, "world_religions"), "humanities");
        assert_eq!(category(Format::Kmmlu, "korean-history"), "HUMSS");
        assert_eq!(
            category(Format::Kmmlu, "Aviation-Engineering-and-Maintenance"),
            "Applied Science"
        );
    }
}

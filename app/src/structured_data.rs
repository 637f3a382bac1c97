//! What a course page tells search engines in their own vocabulary: a schema.org `Course` as
//! JSON-LD, in a `<script type="application/ld+json">` data block. A data block is never run, so
//! the Content-Security-Policy (`script-src 'self'`) has nothing to allow; what matters is that no
//! text of an instructor's can end the element early, which `json_ld` sees to.

use serde_json::{Value, json};

use shop::catalog::Course;
use shop::money::CURRENCY;
use shop::settings::PublicUrl;

/// The schema.org `Course` of a course page whose canonical address is `url`.
pub fn course(course: &Course, url: &str, shop: &PublicUrl) -> String {
    let workload = iso_duration(course.duration.minutes());
    json_ld(&json!({
        "@context": "https://schema.org",
        "@type": "Course",
        "name": course.title,
        "description": course.summary,
        "url": url,
        "educationalLevel": course.level.label(),
        "dateModified": course.updated_at.to_rfc3339(),
        "provider": {
            "@type": "Organization",
            "name": "Courseshop",
            "url": shop.page("/"),
        },
        "offers": {
            "@type": "Offer",
            // currency units with two decimals ("12.50"), never a float made from the cents
            "price": course.price.decimal(),
            "priceCurrency": CURRENCY,
            "category": if course.price.cents() == 0 { "Free" } else { "Paid" },
            "availability": "https://schema.org/InStock",
            "url": url,
        },
        // schema.org puts the instructor and the workload on an instance of the course: here the
        // one online, self-paced way it is taught
        "hasCourseInstance": {
            "@type": "CourseInstance",
            "courseMode": "Online",
            "courseWorkload": workload,
            "instructor": {
                "@type": "Person",
                "name": course.instructor_name,
            },
        },
    }))
}

/// `value` as JSON that can stand inside a `<script>` element: `<`, `>` and `&` are written as
/// `\u003c`, `\u003e` and `\u0026`, which JSON reads as the same characters, so neither
/// `</script>` nor `<!--` in a course's title can close the element or change how it is parsed.
/// (These characters only ever occur inside JSON strings, where the escapes mean the same.)
fn json_ld(value: &Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Minutes as an ISO 8601 duration: `PT45M`, `PT3H`, `PT12H30M`.
fn iso_duration(minutes: i32) -> String {
    match (minutes / 60, minutes % 60) {
        (0, minutes) => format!("PT{minutes}M"),
        (hours, 0) => format!("PT{hours}H"),
        (hours, minutes) => format!("PT{hours}H{minutes}M"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_breaking_text_is_escaped_and_reads_back_the_same() {
        let title = "</script><script>alert(1)</script> <!-- & \"quotes\"";
        let text = json_ld(&json!({ "name": title }));
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        let read: Value = serde_json::from_str(&text).expect("still JSON");
        assert_eq!(read["name"], title);
    }

    #[test]
    fn workloads_are_iso_durations() {
        assert_eq!(iso_duration(45), "PT45M");
        assert_eq!(iso_duration(180), "PT3H");
        assert_eq!(iso_duration(750), "PT12H30M");
    }
}

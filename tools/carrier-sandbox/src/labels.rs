//! Shipping labels: a tiny but well-formed one-page PDF (4×6 in) per purchase, kept in memory
//! and served under `GET /labels/{labelId}.pdf`.
//!
//! Like a real label it prints the recipient's name and address — deliberately, it is the one
//! place the address has to appear — plus carrier, service, tracking number and weight. Nothing
//! else about the buyer (no phone, no email) goes on it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use crate::control::SandboxControl;
use crate::server;

/// Where a label is addressed to, as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShipTo {
    pub(crate) name: Option<String>,
    pub(crate) company: Option<String>,
    /// Street lines, in order.
    pub(crate) lines: Vec<String>,
    pub(crate) city: String,
    pub(crate) region: Option<String>,
    pub(crate) postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub(crate) country: String,
}

impl ShipTo {
    /// The address block as printed, one entry per line.
    fn printed(&self) -> Vec<String> {
        let mut printed: Vec<String> = self.name.iter().chain(&self.company).cloned().collect();
        printed.extend(self.lines.iter().cloned());
        let region = self
            .region
            .as_deref()
            .map(|region| format!(" {region}"))
            .unwrap_or_default();
        printed.push(format!("{}{region} {}", self.city, self.postal_code));
        printed.push(self.country.clone());
        printed
    }
}

/// What goes on a label.
pub(crate) struct Label<'a> {
    pub(crate) carrier: &'a str,
    pub(crate) service: &'a str,
    pub(crate) tracking_number: &'a str,
    pub(crate) weight_oz: f64,
    pub(crate) ship_to: &'a ShipTo,
}

/// Renders the label as a one-page PDF 1.4 with correct cross-reference offsets.
pub(crate) fn render(label: &Label<'_>) -> Vec<u8> {
    let mut text = vec![
        format!("{} {}", label.carrier, label.service),
        format!("TRACKING # {}", label.tracking_number),
        format!("WEIGHT {:.1} OZ", label.weight_oz),
        String::new(),
        "SHIP TO:".to_owned(),
    ];
    text.extend(label.ship_to.printed());
    text.push(String::new());
    text.push("SANDBOX LABEL - NOT VALID FOR SHIPPING".to_owned());

    let mut content = String::from("BT\n/F1 11 Tf\n14 TL\n18 400 Td\n");
    for line in &text {
        content.push_str(&format!("({}) Tj T*\n", pdf_string(line)));
    }
    content.push_str("ET\n");

    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 288 432] \
         /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>"
            .to_owned(),
        format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = String::from("%PDF-1.4\n");
    let mut offsets = Vec::with_capacity(objects.len());
    for (index, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.push_str(&format!("{} 0 obj\n{object}\nendobj\n", index + 1));
    }
    let xref = pdf.len();
    pdf.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for offset in offsets {
        pdf.push_str(&format!("{offset:010} 00000 n \n"));
    }
    pdf.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    pdf.into_bytes()
}

/// A PDF literal string: printable ASCII only (others become `?`), with `\`, `(`, `)` escaped.
fn pdf_string(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '(' | ')' => {
                escaped.push('\\');
                escaped.push(c);
            }
            ' '..='~' => escaped.push(c),
            _ => escaped.push('?'),
        }
    }
    escaped
}

/// `GET /labels/{labelId}.pdf`. No authentication, like the carriers' pre-signed label URLs.
pub(crate) async fn get_label(
    State(control): State<SandboxControl>,
    Path(file): Path<String>,
) -> Response {
    let pdf = file.strip_suffix(".pdf").and_then(|id| {
        let mut state = control.lock();
        let pdf = state.labels.get(id).cloned()?;
        state.stats.label_downloads += 1;
        Some(pdf)
    });
    match pdf {
        Some(pdf) => ([(CONTENT_TYPE, "application/pdf")], pdf).into_response(),
        None => server::detail(StatusCode::NOT_FOUND, "Not found.").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ship_to() -> ShipTo {
        ShipTo {
            name: Some("Jane (Canary) Doe".to_owned()),
            company: None,
            lines: vec!["1 Main St".to_owned(), "Apt 2".to_owned()],
            city: "Springfield".to_owned(),
            region: Some("IL".to_owned()),
            postal_code: "62701".to_owned(),
            country: "US".to_owned(),
        }
    }

    #[test]
    fn label_is_a_pdf_with_the_address_and_valid_offsets() {
        let ship_to = ship_to();
        let pdf = render(&Label {
            carrier: "USPS",
            service: "Priority Mail",
            tracking_number: "9405500000000000000000",
            weight_oz: 12.0,
            ship_to: &ship_to,
        });
        let text = String::from_utf8(pdf).unwrap();
        assert!(text.starts_with("%PDF-1.4\n"));
        assert!(text.ends_with("%%EOF\n"));
        assert!(text.contains("(Jane \\(Canary\\) Doe) Tj"));
        assert!(text.contains("(Springfield IL 62701) Tj"));
        assert!(text.contains("9405500000000000000000"));
        // Every xref entry points at its object.
        let xref_at: usize = text
            .lines()
            .skip_while(|line| *line != "startxref")
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert!(text[xref_at..].starts_with("xref\n"));
        for (number, line) in text[xref_at..].lines().skip(3).take(5).enumerate() {
            let offset: usize = line[..10].parse().unwrap();
            assert!(
                text[offset..].starts_with(&format!("{} 0 obj", number + 1)),
                "object {}",
                number + 1
            );
        }
    }

    #[test]
    fn non_ascii_is_replaced() {
        assert_eq!(pdf_string("Zoë \\ (x)"), "Zo? \\\\ \\(x\\)");
    }
}

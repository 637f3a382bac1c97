use actix_web::HttpRequest;
use actix_web::web::{Data, Path};
use askama::Template;
use askama_web::WebTemplate;

use shop::catalog::{
    CatalogQuery, Category, Course, CourseSlug, LISTED_RESULTS_LABEL, Level, MatchCount,
    RawCatalogQuery, SearchResults, Sort,
};

use crate::error::AppError;
use crate::layout::Layout;
use crate::state::AppState;
use crate::structured_data;
use crate::url_encoded;
use crate::visitor::Visitor;

#[derive(Template, WebTemplate)]
#[template(path = "catalog/courses.html")]
pub struct CoursesPage {
    layout: Layout,
    query: CatalogQuery,
    results: SearchResults,
    categories: Vec<Category>,
    pagination: Pagination,
    levels: [Level; 3],
    sorts: [Sort; 4],
}

impl CoursesPage {
    fn heading(&self) -> String {
        match (&self.query.text, &self.results.category) {
            (Some(text), _) => format!("Results for “{text}”"),
            (None, Some(category)) => category.name.clone(),
            (None, None) => "All courses".to_string(),
        }
    }

    fn first_shown(&self) -> i64 {
        self.query.page_number().offset() + 1
    }

    /// "8 courses", "1 course", "10,000+ courses".
    fn match_count(&self) -> String {
        match self.results.matches {
            MatchCount::Exactly(1) => "1 course".to_string(),
            MatchCount::Exactly(count) => format!("{count} courses"),
            MatchCount::MoreThanListed => format!("{LISTED_RESULTS_LABEL}+ courses"),
        }
    }

    fn last_shown(&self) -> i64 {
        self.query.page_number().offset() + self.results.courses.len() as i64
    }

    fn selected_category(&self, category: &Category) -> bool {
        self.query.category.as_ref() == Some(&category.slug)
    }

    fn selected_level(&self, level: &Level) -> bool {
        self.query.level == Some(*level)
    }

    fn selected_sort(&self, sort: &Sort) -> bool {
        self.query.sort == *sort
    }
}

/// `GET /courses?q=&category=&level=&sort=&page=`
#[tracing::instrument(name = "catalog page", skip_all)]
pub async fn courses(
    state: Data<AppState>,
    request: HttpRequest,
    visitor: Visitor,
) -> Result<CoursesPage, AppError> {
    let catalog = &state.catalog;
    // parsed here rather than by an extractor, so a bad parameter gets the shop's own 400 page
    let raw: RawCatalogQuery = url_encoded::query(request.query_string())?;
    let query = CatalogQuery::parse(raw)?;
    let results = catalog.search_page(&query, visitor.read_after()).await?;
    let categories = catalog.categories().await?;
    let pagination = Pagination::new(&query, &results.value);
    let title = match &query.text {
        Some(text) => format!("“{text}” — courses"),
        None => "Courses".to_string(),
    };
    let mut layout = visitor
        .layout(title)
        .describe(catalog_description(&query, &results.value))
        .canonical(
            state
                .public_url
                .page(&courses_path(&query.canonical_query_string())),
        )
        .with_search(query.text.as_deref().unwrap_or(""))
        .served(results.source);
    // Search results are the shop's own search, one page per thing anyone typed, and an empty list
    // is no page at all: search engines get the categories and courses instead (DESIGN §2b).
    if query.text.is_some() || results.value.courses.is_empty() {
        layout = layout.noindex();
    }
    Ok(CoursesPage {
        layout,
        query,
        results: results.value,
        categories,
        pagination,
        levels: Level::ALL,
        sorts: Sort::ALL,
    })
}

/// What a catalog page lists: the search, the category (in its own words), the page.
fn catalog_description(query: &CatalogQuery, results: &SearchResults) -> String {
    let what = match (&query.text, &results.category) {
        (Some(text), Some(category)) => {
            format!("Courseshop's {} courses matching “{text}”", category.name)
        }
        (Some(text), None) => format!("Courseshop courses matching “{text}”"),
        (None, Some(category)) => format!("{} courses at Courseshop", category.name),
        (None, None) => "Every course at Courseshop".to_string(),
    };
    let detail = match (&query.text, &results.category) {
        (None, Some(category)) => category.description.clone(),
        (None, None) => "programming, data, cloud, design and more, with each course's level, \
                         length, instructor and price."
            .to_string(),
        _ => "each with its level, length, instructor and price.".to_string(),
    };
    match results.page.get() {
        1 => format!("{what}: {detail}"),
        page => format!("{what}, page {page}: {detail}"),
    }
}

/// `/courses` with `query_string`, if there is one.
fn courses_path(query_string: &str) -> String {
    if query_string.is_empty() {
        "/courses".to_string()
    } else {
        format!("/courses?{query_string}")
    }
}

/// The numbered page links under a result list: first, last, and a window around the current page.
pub struct Pagination {
    pub previous: Option<String>,
    pub next: Option<String>,
    pub items: Vec<PageLink>,
}

pub enum PageLink {
    Page {
        number: i64,
        href: String,
        current: bool,
    },
    Gap,
}

impl Pagination {
    const WINDOW: i64 = 2;

    fn new(query: &CatalogQuery, results: &SearchResults) -> Pagination {
        let current = results.page.get();
        let last = results.page_count();
        let href = |page: i64| courses_path(&query.to_query_string(Some(query.with_page(page))));
        let mut items = Vec::new();
        let mut previous_shown = 0;
        for number in 1..=last {
            let near = (number - current).abs() <= Self::WINDOW;
            if number == 1 || number == last || near {
                if number > previous_shown + 1 {
                    items.push(PageLink::Gap);
                }
                items.push(PageLink::Page {
                    number,
                    href: href(number),
                    current: number == current,
                });
                previous_shown = number;
            }
        }
        Pagination {
            previous: (current > 1).then(|| href(current - 1)),
            next: (current < last).then(|| href(current + 1)),
            items: if last > 1 { items } else { Vec::new() },
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "catalog/course.html")]
pub struct CoursePage {
    layout: Layout,
    course: Course,
    /// The schema.org `Course`, as JSON escaped for a `<script>` element (`structured_data`).
    structured_data: String,
}

/// `GET /courses/{slug}`
#[tracing::instrument(name = "course page", skip_all, fields(slug = %slug))]
pub async fn course(
    state: Data<AppState>,
    slug: Path<String>,
    visitor: Visitor,
) -> Result<CoursePage, AppError> {
    let catalog = &state.catalog;
    let not_found = || {
        AppError::NotFound(
            "There is no course at this address. It may have been unpublished.".to_string(),
        )
    };
    let slug = CourseSlug::parse(&slug).map_err(|_| not_found())?;
    let fetched = catalog.course_page(&slug, visitor.read_after()).await?;
    let course = fetched.value.ok_or_else(not_found)?;
    let url = state.public_url.page(&format!("/courses/{}", course.slug));
    Ok(CoursePage {
        structured_data: structured_data::course(&course, &url, &state.public_url),
        layout: visitor
            .layout(course.title.clone())
            .describe(&course.summary)
            .canonical(url)
            .served(fetched.source),
        course,
    })
}

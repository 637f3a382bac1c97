//! Instructors' pages: their courses, a form to create or edit one, publish and unpublish.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use shop::accounts::User;
use shop::catalog::{
    Catalog, Category, CourseDraft, CourseForm, CourseFormErrors, CourseSlug, Level, TaughtCourse,
    TeachError,
};

use crate::error::AppError;
use crate::forms::Checked;
use crate::layout::Layout;
use crate::respond::{render, see_other};
use crate::state::AppState;
use crate::visitor::Visitor;

/// The signed-in instructor: visitors are sent to log in, students are told this is for instructors.
fn instructor<'a>(visitor: &'a Visitor, path: &str) -> Result<&'a User, AppError> {
    let user = visitor.signed_in(path)?;
    if user.is_instructor() {
        Ok(user)
    } else {
        Err(AppError::Forbidden(
            "These pages are for instructors. Your account is a student's.".to_string(),
        ))
    }
}

fn not_yours() -> AppError {
    AppError::NotFound("You have no course at this address.".to_string())
}

impl From<TeachError> for AppError {
    fn from(error: TeachError) -> AppError {
        match error {
            TeachError::NotFound => not_yours(),
            TeachError::UnknownCategory(slug) => {
                AppError::BadRequest(format!("There is no category {slug}."))
            }
            TeachError::Store(error) => error.into(),
        }
    }
}

fn slug(path: &str) -> Result<CourseSlug, AppError> {
    CourseSlug::parse(path).map_err(|_| not_yours())
}

#[derive(Template, WebTemplate)]
#[template(path = "teach/courses.html")]
pub struct TeachCoursesPage {
    layout: Layout,
    courses: Vec<TaughtCourse>,
}

/// `GET /teach/courses`
pub async fn courses(
    state: Data<AppState>,
    visitor: Visitor,
) -> Result<TeachCoursesPage, AppError> {
    let teaching = &state.teaching;
    let user = instructor(&visitor, "/teach/courses")?;
    Ok(TeachCoursesPage {
        courses: teaching.courses(user.id).await?,
        layout: visitor.layout("Your courses").noindex().describe(
            "The courses you teach at Courseshop: create, edit, publish and unpublish them.",
        ),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "teach/course_form.html")]
pub struct CourseFormPage {
    layout: Layout,
    /// `None` while creating.
    slug: Option<CourseSlug>,
    published: bool,
    form: CourseForm,
    errors: CourseFormErrors,
    categories: Vec<Category>,
    levels: [Level; 3],
}

impl CourseFormPage {
    fn action(&self) -> String {
        match &self.slug {
            Some(slug) => format!("/teach/courses/{slug}"),
            None => "/teach/courses".to_string(),
        }
    }

    fn selected_category(&self, category: &Category) -> bool {
        self.form.category == category.slug.as_str()
    }

    fn selected_level(&self, level: &Level) -> bool {
        self.form.level == level.as_str()
    }
}

async fn form_page(
    visitor: &Visitor,
    catalog: &Catalog,
    slug: Option<CourseSlug>,
    published: bool,
    form: CourseForm,
    errors: CourseFormErrors,
) -> Result<CourseFormPage, AppError> {
    let (title, description) = if slug.is_some() {
        (
            "Edit course",
            "Edit your Courseshop course: its title, summary, description, category, level, \
             length and price, and whether it is in the catalog.",
        )
    } else {
        (
            "New course",
            "Create a Courseshop course: its title, summary, description, category, level, \
             length and price. It stays private until you publish it.",
        )
    };
    Ok(CourseFormPage {
        layout: visitor.layout(title).noindex().describe(description),
        slug,
        published,
        form,
        errors,
        categories: catalog.categories().await?,
        levels: Level::ALL,
    })
}

/// `GET /teach/courses/new`
pub async fn new_course(
    state: Data<AppState>,
    visitor: Visitor,
) -> Result<CourseFormPage, AppError> {
    let catalog = &state.catalog;
    instructor(&visitor, "/teach/courses/new")?;
    form_page(
        &visitor,
        catalog,
        None,
        false,
        CourseForm::default(),
        CourseFormErrors::default(),
    )
    .await
}

/// `POST /teach/courses`: a new course, unpublished until its instructor publishes it.
pub async fn create(
    state: Data<AppState>,
    visitor: Visitor,
    Checked(form): Checked<CourseForm>,
) -> Result<HttpResponse, AppError> {
    let catalog = &state.catalog;
    let teaching = &state.teaching;
    let user = instructor(&visitor, "/teach/courses/new")?;
    match CourseDraft::parse(&form) {
        Ok(draft) => {
            let created = teaching.create(user.id, &draft).await?;
            // their next reads (on any instance) wait for the replica to have this write
            visitor.session.remember_write(created.position)?;
            let slug = created.value;
            visitor
                .session
                .flash("Course created. It is not in the catalog until you publish it.")?;
            Ok(see_other(&format!("/teach/courses/{slug}/edit")))
        }
        Err(errors) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form_page(&visitor, catalog, None, false, form, *errors).await?,
        ),
    }
}

/// `GET /teach/courses/{slug}/edit`
pub async fn edit(
    state: Data<AppState>,
    visitor: Visitor,
    path: Path<String>,
) -> Result<CourseFormPage, AppError> {
    let catalog = &state.catalog;
    let teaching = &state.teaching;
    let user = instructor(&visitor, &format!("/teach/courses/{path}/edit"))?;
    let slug = slug(&path)?;
    let (form, published) = teaching.form(user.id, &slug).await?;
    form_page(
        &visitor,
        catalog,
        Some(slug),
        published,
        form,
        CourseFormErrors::default(),
    )
    .await
}

/// `POST /teach/courses/{slug}`
pub async fn update(
    state: Data<AppState>,
    visitor: Visitor,
    path: Path<String>,
    Checked(form): Checked<CourseForm>,
) -> Result<HttpResponse, AppError> {
    let catalog = &state.catalog;
    let teaching = &state.teaching;
    let user = instructor(&visitor, &format!("/teach/courses/{path}/edit"))?;
    let slug = slug(&path)?;
    // ownership first: a form for someone else's course is a 404 even when it is also invalid
    let (_, published) = teaching.form(user.id, &slug).await?;
    match CourseDraft::parse(&form) {
        Ok(draft) => {
            let updated = teaching.update(user.id, &slug, &draft).await?;
            visitor.session.remember_write(updated.position)?;
            visitor.session.flash("Saved.")?;
            Ok(see_other(&format!("/teach/courses/{slug}/edit")))
        }
        Err(errors) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form_page(&visitor, catalog, Some(slug), published, form, *errors).await?,
        ),
    }
}

#[derive(Deserialize)]
pub struct PublishForm {}

/// `POST /teach/courses/{slug}/publish` and `…/unpublish`
pub async fn publish(
    state: Data<AppState>,
    visitor: Visitor,
    path: Path<(String, String)>,
    Checked(_): Checked<PublishForm>,
) -> Result<HttpResponse, AppError> {
    let teaching = &state.teaching;
    let (path_slug, action) = path.into_inner();
    let user = instructor(&visitor, "/teach/courses")?;
    let slug = slug(&path_slug)?;
    let published = match action.as_str() {
        "publish" => true,
        "unpublish" => false,
        _ => return Err(not_yours()),
    };
    let changed = teaching.set_published(user.id, &slug, published).await?;
    visitor.session.remember_write(changed.position)?;
    visitor.session.flash(if published {
        "Published: the course is in the catalog."
    } else {
        "Unpublished: the course has left the catalog. Students who bought it keep it."
    })?;
    Ok(see_other(&format!("/teach/courses/{slug}/edit")))
}

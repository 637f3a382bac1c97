//! Enrollments: which courses a student may watch. Written by checkout (steps 0-3, in the order's
//! transaction) or by the enrollment worker (step 4); read here.

use sqlx::PgPool;

use crate::database::StoreError;
use crate::ids::{CourseId, UserId};

#[derive(Clone)]
pub struct Enrollments {
    pool: PgPool,
}

impl Enrollments {
    pub fn new(pool: PgPool) -> Enrollments {
        Enrollments { pool }
    }

    /// Which of `courses` the student is already enrolled in.
    pub async fn owned_among(
        &self,
        user: UserId,
        courses: &[CourseId],
    ) -> Result<Vec<CourseId>, StoreError> {
        let ids: Vec<i64> = courses.iter().map(|course| course.0).collect();
        Ok(sqlx::query_scalar!(
            r#"SELECT course_id AS "course_id: CourseId" FROM enrollments
               WHERE user_id = $1 AND course_id = ANY($2)"#,
            user.0,
            &ids
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

/// A course a student is enrolled in (My courses).
#[derive(Debug, Clone)]
pub struct EnrolledCourse {
    pub title: String,
    pub instructor_name: String,
    /// Where the course page is, while the course is published.
    pub slug: Option<crate::catalog::CourseSlug>,
    pub enrolled_at: chrono::DateTime<chrono::Utc>,
}

impl Enrollments {
    /// The student's courses, most recent enrollment first.
    pub async fn courses(&self, user: UserId) -> Result<Vec<EnrolledCourse>, StoreError> {
        Ok(sqlx::query_as!(
            EnrolledCourse,
            r#"SELECT c.title, u.display_name AS instructor_name,
                      CASE WHEN c.published THEN c.slug END AS "slug: _", e.enrolled_at
               FROM enrollments e
               JOIN courses c ON c.id = e.course_id
               JOIN users u ON u.id = c.instructor_id
               WHERE e.user_id = $1
               ORDER BY e.enrolled_at DESC, c.title"#,
            user.0
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
